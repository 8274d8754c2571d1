// Package dsn renders delivery status notifications (RFC 3464) as
// multipart/report messages (RFC 6522): the failure, delay and success
// reports that package delivery (a local recipient asked NOTIFY=SUCCESS)
// and package queue (an outbound attempt failed, was delayed or was relayed
// onward) send back to a sender.
package dsn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Actions of a recipient block (RFC 3464 §2.3.3).
const (
	ActionFailed    = "failed"
	ActionDelayed   = "delayed"
	ActionDelivered = "delivered"
	ActionRelayed   = "relayed"
)

// maxReturnedBytes is the largest original message returned whole in a
// failure report; a larger one is returned as its header only.
const maxReturnedBytes = 256 << 10

// dateLayout is an RFC 5322 §3.3 date-time.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// Recipient is one per-recipient block of a report (RFC 3464 §2.3).
type Recipient struct {
	Address        string
	ORCPT          string // "rfc822;addr" or ""
	Action         string
	Status         string // enhanced status code, RFC 3463
	Diagnostic     string // the remote reply, "" when none
	RemoteMTA      string
	LastAttempt    time.Time
	WillRetryUntil time.Time
}

// Report is what a report is about.
type Report struct {
	Hostname   string // Reporting-MTA and the From address's domain
	To         string // the original envelope sender
	MessageID  string // the report's own Message-ID (left part)
	EnvelopeID string
	Return     string // RET: store.ReturnHeaders returns headers only
	Arrival    time.Time
	Now        time.Time
	Original   []byte
	Recipients []Recipient
}

// Build renders a delivery status notification (RFC 3464) as a
// multipart/report (RFC 6522): a human-readable part, the
// message/delivery-status part and the original message or its header.
// Every recipient must have the same action.
func Build(in Report) []byte {
	action := in.Recipients[0].Action
	boundary := randomHex(12)
	var b bytes.Buffer
	subject := map[string]string{
		ActionFailed:    "Undelivered Mail Returned to Sender",
		ActionDelayed:   "Delayed Mail (still being retried)",
		ActionDelivered: "Successful Mail Delivery Report",
		ActionRelayed:   "Successful Mail Delivery Report",
	}[action]
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", in.Hostname)
	fmt.Fprintf(&b, "To: <%s>\r\n", in.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", in.Now.Format(dateLayout))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", in.MessageID, in.Hostname)
	b.WriteString("Auto-Submitted: auto-replied\r\n") // RFC 3834 §5
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")

	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
	writeHumanPart(&b, in)

	fmt.Fprintf(&b, "--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", in.Hostname)
	if in.EnvelopeID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", mail.XText(in.EnvelopeID))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.Arrival.Format(dateLayout))
	for _, r := range in.Recipients {
		b.WriteString("\r\n")
		if r.ORCPT != "" {
			fmt.Fprintf(&b, "Original-Recipient: %s\r\n", strings.Replace(r.ORCPT, ";", "; ", 1))
		}
		fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\n", r.Address)
		fmt.Fprintf(&b, "Action: %s\r\n", r.Action)
		fmt.Fprintf(&b, "Status: %s\r\n", r.Status)
		if r.RemoteMTA != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", r.RemoteMTA)
		}
		if r.Diagnostic != "" {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.Diagnostic))
		}
		if !r.LastAttempt.IsZero() {
			fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", r.LastAttempt.Format(dateLayout))
		}
		if !r.WillRetryUntil.IsZero() {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", r.WillRetryUntil.Format(dateLayout))
		}
	}
	b.WriteString("\r\n")

	header, whole := originalPart(in, action)
	if whole {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(in.Original)
		if !bytes.HasSuffix(in.Original, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	} else {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(header)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

// originalPart returns the original's header and whether the whole
// message is returned instead: only failures return it whole, unless the
// sender asked for headers only (RET=HDRS, RFC 3461 §4.3) or it is large.
func originalPart(in Report, action string) ([]byte, bool) {
	if action == ActionFailed && in.Return != store.ReturnHeaders && len(in.Original) <= maxReturnedBytes {
		return nil, true
	}
	_, body := msgauth.SplitHeader(in.Original)
	header := in.Original[:body]
	if !bytes.HasSuffix(header, []byte("\r\n\r\n")) {
		header = append(bytes.TrimRight(bytes.Clone(header), "\r\n"), "\r\n\r\n"...)
	}
	return header, false
}

func writeHumanPart(b *bytes.Buffer, in Report) {
	switch in.Recipients[0].Action {
	case ActionFailed:
		fmt.Fprintf(b, "This is the mail system at %s.\r\n\r\nYour message could not be delivered to one or more recipients.\r\n"+
			"It is attached below. The errors were:\r\n\r\n", in.Hostname)
	case ActionDelayed:
		fmt.Fprintf(b, "This is the mail system at %s.\r\n\r\nYour message has not been delivered yet to one or more recipients.\r\n"+
			"Delivery will be retried; you do not need to send it again. The errors so far were:\r\n\r\n", in.Hostname)
	default:
		fmt.Fprintf(b, "This is the mail system at %s.\r\n\r\nYour message was delivered to the recipients below.\r\n\r\n", in.Hostname)
	}
	for _, r := range in.Recipients {
		fmt.Fprintf(b, "<%s>", r.Address)
		switch {
		case r.Diagnostic != "" && r.RemoteMTA != "":
			fmt.Fprintf(b, ": %s said: %s", r.RemoteMTA, oneLine(r.Diagnostic))
		case r.Diagnostic != "":
			fmt.Fprintf(b, ": %s", oneLine(r.Diagnostic))
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
}

// oneLine keeps a remote text from breaking the report's structure.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
