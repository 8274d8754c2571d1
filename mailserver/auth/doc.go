// Package auth verifies passwords and slows down password guessing.
//
// Password hashes ([Verify], [Hash], [Recognized]) come in three families:
//
//   - argon2id in the PHC string format, $argon2id$v=19$m=…,t=…,p=…$salt$hash
//     (RFC 9106; the format Dovecot's ARGON2ID scheme and libsodium write). New
//     hashes made by [Hash] are always argon2id.
//   - bcrypt, $2a$, $2b$ and $2y$ (Dovecot's BLF-CRYPT).
//   - SHA512-CRYPT, $6$[rounds=N$]salt$hash, implemented here from Ulrich
//     Drepper's "Unix crypt using SHA-256 and SHA-512" specification.
//
// Each may carry a Dovecot scheme prefix ({ARGON2ID}, {BLF-CRYPT},
// {SHA512-CRYPT}, or the generic {CRYPT}), so entries of a Dovecot passwd file
// can be copied into the server configuration unchanged. A prefix that names a
// different family than the hash behind it is refused.
//
// To keep a mistyped hash from stalling every login, hashes that ask for more
// work than [MaxArgon2Memory], [MaxArgon2Time], [MaxBcryptCost] or
// [MaxSHA512CryptRounds] are not recognised, and passwords longer than
// [MaxPasswordLength] bytes never verify (SHA512-CRYPT's work grows with the
// square of the password length).
//
// [VerifyCache] remembers recent verification results, as Dovecot's auth cache
// does, so a client that logs in every minute does not pay for argon2 every
// time. [Throttle] counts failures per client address and per account and
// imposes a growing delay. [Authenticator] puts the three together behind one
// call that protocol adapters (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3
// USER/PASS) share.
package auth
