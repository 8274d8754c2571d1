package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/msgauth"
)

// runDKIM is `kubemail dkim keygen`: it makes a DKIM signing key and prints
// it with the TXT record to publish (RFC 6376 §3.6.1, RFC 8463).
func runDKIM(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprintln(stderr, "Usage: kubemail dkim keygen --domain DOMAIN --selector SELECTOR [--algorithm rsa|ed25519] [--out FILE]")
		switch {
		case len(args) == 0:
			return errUsage
		case args[0] == "-h" || args[0] == "--help":
			return flag.ErrHelp
		}
		fmt.Fprintf(stderr, "kubemail dkim: unknown subcommand %q\n", args[0])
		return errUsage
	}
	fs := newFlagSet("dkim keygen", stderr)
	domain := fs.String("domain", "", "the signing domain (required)")
	selector := fs.String("selector", "", "the selector, the DNS label under _domainkey (required)")
	algorithm := fs.String("algorithm", msgauth.AlgorithmRSA, "the key algorithm: rsa (2048 bits) or ed25519")
	out := fs.String("out", "", "write the private key to this file (mode 0600) instead of standard output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kubemail dkim keygen --domain DOMAIN --selector SELECTOR [--algorithm rsa|ed25519] [--out FILE]")
		fmt.Fprintln(stderr, "Prints a new DKIM private key (PEM) and the DNS TXT record that publishes its public key.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	d, err := mail.CanonicalDomain(*domain)
	if err != nil {
		fmt.Fprintf(stderr, "kubemail dkim keygen: --domain %q: %v\n", *domain, err)
		return errUsage
	}
	// A selector has the syntax of a domain name (RFC 6376 §3.1).
	sel, err := mail.CanonicalDomain(*selector)
	if err != nil {
		fmt.Fprintf(stderr, "kubemail dkim keygen: --selector %q: %v\n", *selector, err)
		return errUsage
	}
	pemKey, key, err := msgauth.GenerateKey(*algorithm)
	if err != nil {
		return err
	}
	txt, err := msgauth.TXTRecord(key)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, pemKey, 0o600); err != nil {
			return fmt.Errorf("writing the key: %w", err)
		}
	} else if _, err := stdout.Write(pemKey); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "; Publish this record, then set domains[].dkim: {selector: %s, keyFile: <the key file>}\n%s\n",
		sel, msgauth.ZoneRecord(d, sel, txt))
	return err
}
