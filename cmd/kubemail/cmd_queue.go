package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/queue"
)

// queueTimeout bounds one admin API request.
const queueTimeout = 30 * time.Second

// runQueue is `kubemail queue list|retry|delete`: it manages a running
// server's outbound queue through its admin endpoint (listeners.admin,
// loopback only; in a cluster, run it in the server's pod).
func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, "Usage: kubemail queue list|retry [ID]|delete ID  (--addr HOST:PORT | --config FILE)")
		fmt.Fprintln(stderr, "  list          show the queued messages and their recipients")
		fmt.Fprintln(stderr, "  retry [ID]    attempt the message (every message without ID) now")
		fmt.Fprintln(stderr, "  delete ID     remove the message from the queue, without a report to its sender")
	}
	if len(args) == 0 {
		usage()
		return errUsage
	}
	sub := args[0]
	fs := newFlagSet("queue "+sub, stderr)
	addr := fs.String("addr", "", "the admin endpoint, host:port (default: listeners.admin of --config)")
	configPath := fs.String("config", "", "the server configuration file, to find listeners.admin")
	fs.Usage = func() { usage(); fs.PrintDefaults() }
	// Flags may come before or after the message id.
	var positional []string
	for rest := args[1:]; ; rest = fs.Args()[1:] {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
	}
	var id string
	switch {
	case sub == "list" && len(positional) == 0:
	case sub == "retry" && len(positional) <= 1:
		if len(positional) == 1 {
			id = positional[0]
		}
	case sub == "delete" && len(positional) == 1:
		id = positional[0]
	default:
		usage()
		return errUsage
	}
	base, err := adminURL(*addr, *configPath)
	if err != nil {
		fmt.Fprintf(stderr, "kubemail queue: %v\n", err)
		return errUsage
	}
	c := &queue.AdminClient{BaseURL: base, HTTP: &http.Client{Timeout: queueTimeout}}
	switch sub {
	case "list":
		list, err := c.List(ctx)
		if err != nil {
			return err
		}
		return printQueue(stdout, list, time.Now())
	case "retry":
		n, err := c.Retry(ctx, id)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%d recipients rescheduled\n", n)
		return err
	default:
		if err := c.Delete(ctx, id); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "deleted %s\n", id)
		return err
	}
}

// adminURL finds the admin endpoint from --addr or the configuration.
func adminURL(addr, configPath string) (string, error) {
	if addr == "" && configPath != "" {
		cfg, err := config.Load(configPath)
		if err != nil {
			return "", err
		}
		if !cfg.Listeners.Admin.Enabled() {
			return "", fmt.Errorf("%s has no listeners.admin.address: the admin endpoint is off", configPath)
		}
		addr = cfg.Listeners.Admin.Address
	}
	if addr == "" {
		return "", fmt.Errorf("give --addr HOST:PORT or --config FILE")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("--addr %q: %w", addr, err)
	}
	return "http://" + addr, nil
}

// printQueue lists messages, each followed by its recipients.
func printQueue(w io.Writer, list []queue.MessageInfo, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "The queue is empty.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSENDER\tAGE\tSIZE\tRECIPIENTS")
	for _, m := range list {
		sender := m.Sender
		if sender == "" {
			sender = "<>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", m.ID, sender, now.Sub(m.Created).Round(time.Second), m.Size, len(m.Recipients))
		for _, r := range m.Recipients {
			state := "next attempt in " + r.NextAttempt.Sub(now).Round(time.Second).String()
			if r.InFlight {
				state = "being delivered"
			}
			fmt.Fprintf(tw, "  %s\t%d attempts\t%s\t\t%s\n", r.Address, r.Attempts, state, r.LastError)
		}
	}
	return tw.Flush()
}
