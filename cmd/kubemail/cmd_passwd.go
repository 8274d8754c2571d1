package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/kubemail/kubemail/mailserver/auth"
)

// maxPasswordBytes bounds what passwd reads; auth refuses longer passwords anyway.
const maxPasswordBytes = 1024

// runPasswd reads a password (twice, without echo, from a terminal; one line
// otherwise) and prints its argon2id hash for a server config or a Secret.
func runPasswd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("passwd", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kubemail passwd < password-file")
		fmt.Fprintln(stderr, "Reads a password from the terminal (or one line of standard input) and prints its argon2id hash.")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	password, err := readPassword(os.Stdin, stderr)
	if err != nil {
		return err
	}
	hash, err := auth.Hash(password)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}

func readPassword(in *os.File, prompt io.Writer) (string, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(io.LimitReader(in, maxPasswordBytes+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return checkPassword(strings.TrimRight(line, "\r\n"))
	}
	fmt.Fprint(prompt, "Password: ")
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(prompt, "Again: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords differ")
	}
	return checkPassword(string(first))
}

func checkPassword(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("the password is empty")
	case len(p) > maxPasswordBytes:
		return "", fmt.Errorf("the password is longer than %d bytes", maxPasswordBytes)
	}
	return p, nil
}
