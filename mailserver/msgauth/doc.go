// Package msgauth authenticates mail: it signs outbound messages with DKIM
// and checks inbound ones with SPF, DKIM and DMARC, reporting the results
// in an Authentication-Results field.
//
// # Signing (sign.go, keys.go)
//
// [Signer] adds a DKIM-Signature (RFC 6376) with go-msgauth: relaxed/relaxed
// canonicalisation, SHA-256, RSA (2048-bit keys generated, at least 1024
// accepted, RFC 8301) or Ed25519 (RFC 8463), chosen by the key. The signed
// fields are RFC 6376 §5.4.1's recommendation plus the MIME and List-*
// fields, those present only, with From signed once more than it occurs so
// no From can be added. Keys are PEM files (PKCS #8 or PKCS #1), re-read
// when the file changes. [GenerateKey], [TXTRecord] and [ZoneRecord] back
// `kubemail dkim keygen`.
//
// # Checking (check.go)
//
// [Checker.Check] runs, for one received message:
//
//   - SPF (spf.go, RFC 7208) on the MAIL FROM domain, or on the HELO name
//     for the null sender: ip4, ip6, a, mx, include, exists, all and
//     redirect, macros (§7), at most 10 DNS-querying terms and 2 void
//     look-ups (§4.6.4), 10 MX hosts per "mx"; "ptr" never matches;
//   - DKIM verification with go-msgauth (at most 5 signatures);
//   - DMARC (dmarc.go, RFC 7489): the policy of the From domain, else of
//     its organizational domain (public suffix list, sp= for subdomains),
//     identifier alignment in the record's modes, pct sampling.
//
// DNS failures become temperror results, never errors. The verdict
// carries the Authentication-Results field (RFC 8601) to prepend, a copy
// of the message without any Authentication-Results field claiming this
// server's authserv-id (RFC 8601 §5), and Reject when DMARC failed under
// p=reject — which the SMTP server answers with 550 5.7.1.
package msgauth
