package msgauth

import (
	"context"

	"github.com/kubemail/kubemail/mailserver/smtp"
)

var _ smtp.MessageChecker = (*Checker)(nil)

// CheckMessage implements smtp.MessageChecker, so a Checker can be the MX
// listener's Options.Checker.
func (c *Checker) CheckMessage(ctx context.Context, env smtp.Envelope, content []byte) smtp.CheckResult {
	v := c.Check(ctx, Input{IP: env.RemoteIP, HELO: env.HELO, MailFrom: env.From, Message: content})
	res := smtp.CheckResult{Header: v.Header, Content: v.Message, Reject: v.Reject}
	if v.Reject {
		res.Reason = "DMARC policy reject of " + v.DMARC.Domain
	}
	return res
}
