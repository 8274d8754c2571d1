package smtp

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/mail"
)

func TestLineChecker(t *testing.T) {
	tests := map[string]struct {
		chunks []string
		max    int
		want   error
	}{
		"CRLF lines pass":                     {chunks: []string{"a\r\nbc\r\n\r\n"}, max: 10},
		"empty data passes":                   {chunks: nil, max: 10},
		"a last line without CRLF passes":     {chunks: []string{"a\r\nlast"}, max: 10},
		"CRLF split across writes passes":     {chunks: []string{"a\r", "\nb\r", "\n"}, max: 10},
		"a bare LF is refused":                {chunks: []string{"a\nb\r\n"}, max: 10, want: errBareLF},
		"a bare CR is refused":                {chunks: []string{"a\rb\r\n"}, max: 10, want: errBareCR},
		"CR CR LF holds a bare CR":            {chunks: []string{"a\r\r\n"}, max: 10, want: errBareCR},
		"a CR ending the data is bare":        {chunks: []string{"a\r"}, max: 10, want: errBareCR},
		"LF after a split CRLF is bare":       {chunks: []string{"a\r", "\n\n"}, max: 10, want: errBareLF},
		"a line at the limit passes":          {chunks: []string{"12345678\r\n"}, max: 10},
		"a line one over the limit is long":   {chunks: []string{"123456789\r\n"}, max: 10, want: errLineTooLong},
		"a long line across writes is long":   {chunks: []string{"12345", "6789"}, max: 10, want: errLineTooLong},
		"the first violation wins":            {chunks: []string{"a\nb\rc"}, max: 10, want: errBareLF},
		"line length restarts after each end": {chunks: []string{"12345678\r\n12345678\r\n"}, max: 10},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &lineChecker{max: tc.max}
			for _, chunk := range tc.chunks {
				if n, err := c.Write([]byte(chunk)); n != len(chunk) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := c.Close(); got != tc.want {
				t.Errorf("verdict %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckAddress(t *testing.T) {
	tests := map[string]struct {
		addr string
		utf8 bool
		want error
	}{
		"a plain address":                   {addr: "alice@example.com"},
		"a quoted local part, unquoted":     {addr: "a b@example.com"},
		"an IPv4 address literal":           {addr: "root@[192.0.2.1]"},
		"an IPv6 address literal":           {addr: "root@[IPv6:2001:db8::1]"},
		"an IPv6 literal without its tag":   {addr: "root@[2001:db8::1]", want: errAddressSyntax},
		"a general address literal":         {addr: "root@[x:y]", want: errAddressSyntax},
		"no at sign":                        {addr: "alice", want: errAddressSyntax},
		"an empty local part":               {addr: "@example.com", want: errAddressSyntax},
		"an empty domain":                   {addr: "alice@", want: errAddressSyntax},
		"a control character":               {addr: "al\x01ice@example.com", want: errAddressSyntax},
		"DEL":                               {addr: "alice@exa\x7fmple.com", want: errAddressSyntax},
		"an empty label":                    {addr: "alice@example..com", want: errAddressSyntax},
		"a trailing dot":                    {addr: "alice@example.com.", want: errAddressSyntax},
		"a label starting with a hyphen":    {addr: "alice@-example.com", want: errAddressSyntax},
		"an underscore in the domain":       {addr: "alice@ex_ample.com", want: errAddressSyntax},
		"a 64-octet label":                  {addr: "a@" + strings.Repeat("l", 64) + ".com", want: errAddressSyntax},
		"255 octets":                        {addr: strings.Repeat("a", 243) + "@example.com", want: errAddressSyntax},
		"254 octets":                        {addr: strings.Repeat("a", 242) + "@example.com"},
		"a long local part, as SRS makes":   {addr: "SRS0=" + strings.Repeat("h", 80) + "@example.com"},
		"non-ASCII without SMTPUTF8":        {addr: "j\u00f6rg@example.com", want: errNonASCIIAddress},
		"a non-ASCII domain without it":     {addr: "jorg@b\u00fccher.example", want: errNonASCIIAddress},
		"non-ASCII with SMTPUTF8":           {addr: "j\u00f6rg@b\u00fccher.example", utf8: true},
		"invalid UTF-8 even with SMTPUTF8":  {addr: "j\xffrg@example.com", utf8: true, want: errAddressSyntax},
		"the last at sign splits the parts": {addr: "a@b@example.com"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := checkAddress(tc.addr, tc.utf8); got != tc.want {
				t.Errorf("checkAddress(%q, %v) = %v, want %v", tc.addr, tc.utf8, got, tc.want)
			}
		})
	}
}

func TestParsePlain(t *testing.T) {
	tests := map[string]struct {
		msg                 string
		authzid, user, pass string
		wantErr             bool
	}{
		"without authorization identity": {msg: "\x00alice\x00pw", user: "alice", pass: "pw"},
		"with authorization identity":    {msg: "alice\x00alice\x00pw", authzid: "alice", user: "alice", pass: "pw"},
		"no separators":                  {msg: "garbage", wantErr: true},
		"one separator":                  {msg: "\x00alice", wantErr: true},
		"three separators":               {msg: "\x00a\x00b\x00c", wantErr: true},
		"an empty user":                  {msg: "\x00\x00pw", wantErr: true},
		"an empty password":              {msg: "\x00alice\x00", wantErr: true},
		"a CR in the password":           {msg: "\x00alice\x00p\rw", wantErr: true},
		"invalid UTF-8":                  {msg: "\x00al\xffice\x00pw", wantErr: true},
		"an oversized user":              {msg: "\x00" + strings.Repeat("u", 321) + "\x00pw", wantErr: true},
		"an oversized password":          {msg: "\x00alice\x00" + strings.Repeat("p", 1025), wantErr: true},
		"the longest password":           {msg: "\x00alice\x00" + strings.Repeat("p", 1024), user: "alice", pass: strings.Repeat("p", 1024)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			authzid, user, pass, err := parsePlain([]byte(tc.msg))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if authzid != tc.authzid || user != tc.user || pass != tc.pass {
				t.Errorf("parsed (%q, %q, %q), want (%q, %q, %q)", authzid, user, pass, tc.authzid, tc.user, tc.pass)
			}
		})
	}
}

func TestSASLServersAcceptOneExchangeOnly(t *testing.T) {
	calls := 0
	check := func(_, _, _ string) error { calls++; return nil }
	p := &plainServer{check: check}
	if _, done, err := p.Next([]byte("\x00u\x00p")); !done || err != nil {
		t.Fatalf("PLAIN Next = %v, %v", done, err)
	}
	if _, _, err := p.Next([]byte("\x00u\x00p")); err != replyAuthMalformed {
		t.Errorf("a second PLAIN response: %v, want the malformed reply", err)
	}
	l := &loginServer{check: check}
	for i, resp := range [][]byte{nil, []byte("u"), []byte("p")} {
		if _, _, err := l.Next(resp); err != nil {
			t.Fatalf("LOGIN step %d: %v", i, err)
		}
	}
	if _, _, err := l.Next([]byte("x")); err != replyAuthMalformed {
		t.Errorf("a fourth LOGIN response: %v, want the malformed reply", err)
	}
	if calls != 2 {
		t.Errorf("credentials checked %d times, want 2", calls)
	}
}

func TestReceivedHeader(t *testing.T) {
	tls12 := &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	base := receivedInfo{HELO: "client.test", RemoteIP: netip.MustParseAddr("192.0.2.1"), Hostname: "mx.test",
		ID: "ID", At: fixedNow}
	tests := map[string]struct {
		edit func(*receivedInfo)
		want string
	}{
		"plain ESMTP to several recipients": {
			edit: func(*receivedInfo) {},
			want: "Received: from client.test ([192.0.2.1])\r\n\tby mx.test with ESMTP id ID;\r\n" +
				"\tFri, 02 Jan 2026 03:04:05 +0000\r\n",
		},
		"one recipient, TLS and AUTH": {
			edit: func(ri *receivedInfo) { ri.TLS, ri.Auth, ri.Rcpt = tls12, true, "bob@example.com" },
			want: "Received: from client.test ([192.0.2.1])\r\n" +
				"\t(using TLSv1.2 with cipher TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)\r\n" +
				"\tby mx.test with ESMTPSA id ID\r\n\tfor <bob@example.com>; Fri, 02 Jan 2026 03:04:05 +0000\r\n",
		},
		"SMTPUTF8 over TLS": {
			edit: func(ri *receivedInfo) { ri.TLS, ri.UTF8 = tls12, true },
			want: "Received: from client.test ([192.0.2.1])\r\n" +
				"\t(using TLSv1.2 with cipher TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)\r\n" +
				"\tby mx.test with UTF8SMTPS id ID;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n",
		},
		"an IPv6 client greeting with an address literal": {
			edit: func(ri *receivedInfo) {
				ri.HELO, ri.RemoteIP = "[IPv6:2001:db8::1]", netip.MustParseAddr("2001:db8::1")
			},
			want: "Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1])\r\n\tby mx.test with ESMTP id ID;\r\n" +
				"\tFri, 02 Jan 2026 03:04:05 +0000\r\n",
		},
		"a recipient with a quoted local part is quoted again": {
			edit: func(ri *receivedInfo) { ri.Rcpt = `a "b"\c@example.com` },
			want: "Received: from client.test ([192.0.2.1])\r\n\tby mx.test with ESMTP id ID\r\n" +
				"\tfor <\"a \\\"b\\\"\\\\c\"@example.com>; Fri, 02 Jan 2026 03:04:05 +0000\r\n",
		},
		"an invalid HELO is replaced and quoted in a comment": {
			edit: func(ri *receivedInfo) { ri.HELO = "evil) (by (x\\" },
			want: "Received: from [192.0.2.1] ([192.0.2.1])\r\n\t(HELO evil???by??x?)\r\n" +
				"\tby mx.test with ESMTP id ID;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ri := base
			tc.edit(&ri)
			if got := string(ri.header()); got != tc.want {
				t.Errorf("header\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestEnvelopeAccountsAreDeduplicated(t *testing.T) {
	env := mail.Envelope{Recipients: []mail.Recipient{
		{Accounts: []string{"a", "b"}}, {Accounts: []string{"b", "c"}}, {Accounts: []string{"a"}},
	}}
	if got := strings.Join(env.Accounts(), ","); got != "a,b,c" {
		t.Errorf("Accounts() = %s, want a,b,c", got)
	}
}

func TestOverQuotaErrorMatchesThroughWrapping(t *testing.T) {
	var qe *mail.OverQuotaError
	err := errors.Join(errors.New("context"), &mail.OverQuotaError{Account: "a", Permanent: true})
	if !errors.As(err, &qe) || !qe.Permanent || qe.Error() != "account a is permanently over quota" {
		t.Errorf("errors.As found %v", qe)
	}
}
