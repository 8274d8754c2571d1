package dsn

import (
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// t0 is the tests' clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestDSNReturnsHeadersOnlyWhenAsked(t *testing.T) {
	orig := []byte("Subject: secret\r\nFrom: a@a.test\r\n\r\nthe body\r\n")
	in := Report{Hostname: "mx.a.test", To: "a@a.test", MessageID: "X", EnvelopeID: "env 1", Return: store.ReturnHeaders,
		Arrival: t0, Now: t0, Original: orig,
		Recipients: []Recipient{{Address: "b@b.test", ORCPT: "rfc822;B@b.test", Action: ActionFailed, Status: "5.1.1",
			Diagnostic: "550 5.1.1 no\r\nsuch user", RemoteMTA: "mx.b.test"}}}
	got := string(Build(in))
	for _, want := range []string{
		"Content-Type: text/rfc822-headers\r\n\r\nSubject: secret\r\nFrom: a@a.test\r\n\r\n--",
		"Original-Envelope-Id: env+201\r\n",
		"Original-Recipient: rfc822; B@b.test\r\n",
		"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "the body") {
		t.Errorf("RET=HDRS report contains the body:\n%s", got)
	}
}
