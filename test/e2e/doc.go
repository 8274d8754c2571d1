// Package e2e holds kubemail's end-to-end tests: they build the kubemail
// binary, run `kubemail server` as a subprocess on 127.0.0.1 with a
// configuration and certificate each test writes, and talk to it with real
// clients (curl, Python's smtplib and poplib, raw SMTP and POP3 in Go).
package e2e
