package main

import (
	"context"
	"fmt"
	"io"

	"github.com/kubemail/kubemail/mailserver/server"
)

// runServer runs the mail server with the configuration file given by
// --config until ctx is done (SIGINT or SIGTERM), then shuts it down
// gracefully.
func runServer(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("server", stderr)
	configPath := fs.String("config", "", "the server configuration file (required; see config/standalone/server.yaml)")
	shutdownTimeout := fs.Duration("shutdown-timeout", server.DefaultShutdownTimeout,
		"how long to let sessions finish on shutdown before closing them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "kubemail server: --config is required")
		fs.Usage()
		return errUsage
	}
	srv, err := server.New(server.Options{
		ConfigPath:      *configPath,
		Logger:          newLogger(stderr),
		ShutdownTimeout: *shutdownTimeout,
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
