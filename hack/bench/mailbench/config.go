package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/template"
)

// configData is what the kubemail config template (hack/bench/kubemail-config.yaml.tmpl) is rendered from.
type configData struct {
	Hostname    string
	SMTP        string
	POP3        string
	IMAP        string
	Ops         string
	StoragePath string
	Domain      string
	Connections int // connection limits: enough for the idle benchmark and the SMTP sessions
	Mailboxes   []mailboxData
}

// mailboxData is one account in configData.
type mailboxData struct {
	Address      string
	PasswordHash string
}

// quoteYAML renders s as a YAML double-quoted scalar; JSON string syntax is a subset of it.
func quoteYAML(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// renderConfig renders the template text with data.
func renderConfig(text string, data configData) ([]byte, error) {
	tmpl, err := template.New("config").Option("missingkey=error").Funcs(template.FuncMap{"quote": quoteYAML}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing config template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("rendering config template: %w", err)
	}
	return buf.Bytes(), nil
}

func renderConfigCmd(args []string) error {
	fs := flag.NewFlagSet("render-config", flag.ContinueOnError)
	var s sizing
	s.register(fs)
	var d configData
	tmplPath := fs.String("template", "hack/bench/kubemail-config.yaml.tmpl", "config template")
	out := fs.String("out", "", "write the config here (default stdout)")
	hash := fs.String("password-hash", "", "password hash of every mailbox (for example from `kubemail passwd`)")
	fs.StringVar(&d.Hostname, "hostname", "kubemail.bench.test", "server hostname")
	fs.StringVar(&d.SMTP, "smtp", "127.0.0.1:22525", "SMTP listener")
	fs.StringVar(&d.POP3, "pop3", "127.0.0.1:22110", "POP3 listener")
	fs.StringVar(&d.IMAP, "imap", "127.0.0.1:22143", "IMAP listener")
	fs.StringVar(&d.Ops, "ops", "127.0.0.1:22080", "ops (metrics, health) listener")
	fs.StringVar(&d.StoragePath, "storage", "", "directory of the embedded store")
	idle := fs.Int("idle", 1000, "IMAP connections the run holds in IDLE (sets the connection limits)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hash == "" || d.StoragePath == "" {
		return fmt.Errorf("-password-hash and -storage are required")
	}
	text, err := os.ReadFile(*tmplPath)
	if err != nil {
		return fmt.Errorf("reading config template: %w", err)
	}
	d.Domain = s.domain
	d.Connections = max(*idle, slices.Max(s.concurrency)) + 256
	for _, a := range s.accounts() {
		d.Mailboxes = append(d.Mailboxes, mailboxData{Address: a, PasswordHash: strings.TrimSpace(*hash)})
	}
	b, err := renderConfig(string(text), d)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return fmt.Errorf("writing config to %s: %w", *out, err)
	}
	return nil
}
