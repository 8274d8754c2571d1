package config

import "github.com/kubemail/kubemail/mailserver/auth"

// The password hashes a configuration's mailboxes[].passwordHash accepts
// are part of the contract between the operator and the server: the
// operator hashes and checks passwords with these, and imports nothing
// else of the server (the boundary .golangci.yml enforces).

// MaxPasswordLength is the longest password, in bytes, the server verifies.
const MaxPasswordLength = auth.MaxPasswordLength

// HashPasswordMemoryKiB is the memory one HashPassword takes.
const HashPasswordMemoryKiB = auth.HashMemoryKiB

// HashPassword hashes a password as the server stores new ones (argon2id
// with a random salt).
func HashPassword(password string) (string, error) { return auth.Hash(password) }

// RecognizedHash reports whether a password hash is in a format the server
// verifies (argon2id, bcrypt, SHA512-CRYPT, optionally with a Dovecot
// {SCHEME} prefix).
func RecognizedHash(hash string) bool { return auth.Recognized(hash) }
