package msgauth

import (
	"context"

	"github.com/kubemail/kubemail/mailserver/mail"
)

var _ mail.MessageChecker = (*Checker)(nil)

// CheckMessage implements mail.MessageChecker, so a Checker can be the MX
// listener's Options.Checker.
func (c *Checker) CheckMessage(ctx context.Context, env mail.Envelope, content []byte) mail.CheckResult {
	v := c.Check(ctx, Input{IP: env.RemoteIP, HELO: env.HELO, MailFrom: env.From, Message: content})
	res := mail.CheckResult{Header: v.Header, Content: v.Message, Reject: v.Reject}
	if v.Reject {
		res.Reason = "DMARC policy reject of " + v.DMARC.Domain
	}
	return res
}
