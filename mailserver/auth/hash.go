package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Parameters of the argon2id hashes made by [Hash]: 19 MiB of memory, two
// passes, one lane, a 16-byte salt and a 32-byte tag. These are the OWASP
// Password Storage Cheat Sheet's first argon2id configuration; one
// verification takes a few tens of milliseconds on a server core, which is
// acceptable for an interactive login and (with [VerifyCache]) for mail
// clients that log in often.
const (
	HashMemoryKiB   = 19456
	HashTime        = 2
	HashParallelism = 1
	hashSaltLen     = 16
	hashKeyLen      = 32
)

// Upper bounds on the work a stored hash may ask for. Hashes beyond them are
// not recognised, so one mistyped parameter cannot stall every login.
const (
	// MaxArgon2Memory is the largest argon2 memory parameter accepted, in KiB (1 GiB).
	MaxArgon2Memory = 1 << 20
	// MaxArgon2Time is the largest argon2 number of passes accepted.
	MaxArgon2Time = 64
	// MaxBcryptCost is the largest bcrypt cost accepted (about 10 s per verification).
	MaxBcryptCost = 17
	// MaxSHA512CryptRounds is the largest SHA512-CRYPT rounds value accepted.
	MaxSHA512CryptRounds = 10_000_000
	// MaxPasswordLength is the longest password, in bytes, that can verify.
	MaxPasswordLength = 1024
)

// ErrMalformedHash is returned (wrapped, with the reason) by [Verify] for a
// hash it does not recognise. The error text never contains the hash.
var ErrMalformedHash = errors.New("malformed password hash")

// scheme is one family of password hashes.
type scheme int

const (
	schemeArgon2id scheme = iota + 1
	schemeBcrypt
	schemeSHA512Crypt
)

// dovecotPrefixes maps a Dovecot scheme prefix (upper-cased) to the families
// it may introduce.
var dovecotPrefixes = map[string][]scheme{
	"ARGON2ID":     {schemeArgon2id},
	"BLF-CRYPT":    {schemeBcrypt},
	"SHA512-CRYPT": {schemeSHA512Crypt},
	"CRYPT":        {schemeBcrypt, schemeSHA512Crypt},
}

// Hash returns an argon2id PHC string for password, with a fresh random salt
// and the parameters [HashMemoryKiB], [HashTime] and [HashParallelism].
func Hash(password string) (string, error) {
	if len(password) > MaxPasswordLength {
		return "", fmt.Errorf("hashing password: longer than %d bytes", MaxPasswordLength)
	}
	salt := make([]byte, hashSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing password: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, HashTime, HashMemoryKiB, HashParallelism, hashKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		HashMemoryKiB, HashTime, HashParallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Recognized reports whether hash is in a format [Verify] accepts, with
// parameters within bounds. It does no hashing work.
func Recognized(hash string) bool {
	_, err := parse(hash)
	return err == nil
}

// Verify reports whether password matches hash. A wrong password is
// (false, nil); a hash that is not recognised is (false, error wrapping
// [ErrMalformedHash]). Comparisons take constant time.
func Verify(hash, password string) (bool, error) {
	p, err := parse(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLength {
		return false, nil
	}
	return p.verify(password), nil
}

// parsed is a hash split into its parts, ready to verify a password.
type parsed interface {
	verify(password string) bool
}

// parse strips an optional Dovecot prefix and parses the hash behind it.
func parse(hash string) (parsed, error) {
	var allowed []scheme
	if strings.HasPrefix(hash, "{") {
		end := strings.IndexByte(hash, '}')
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated {SCHEME} prefix", ErrMalformedHash)
		}
		name := strings.ToUpper(hash[1:end])
		var ok bool
		if allowed, ok = dovecotPrefixes[name]; !ok {
			return nil, fmt.Errorf("%w: unsupported scheme {%s}", ErrMalformedHash, name)
		}
		hash = hash[end+1:]
	}
	var s scheme
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		s = schemeArgon2id
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		s = schemeBcrypt
	case strings.HasPrefix(hash, sha512CryptMagic):
		s = schemeSHA512Crypt
	default:
		return nil, fmt.Errorf("%w: unknown format (want argon2id, bcrypt or SHA512-CRYPT)", ErrMalformedHash)
	}
	if allowed != nil && !containsScheme(allowed, s) {
		return nil, fmt.Errorf("%w: {SCHEME} prefix does not match the hash format", ErrMalformedHash)
	}
	switch s {
	case schemeArgon2id:
		return parseArgon2id(hash)
	case schemeBcrypt:
		return parseBcrypt(hash)
	default:
		return parseSHA512Crypt(hash)
	}
}

func containsScheme(list []scheme, s scheme) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// argon2idHash is a parsed PHC argon2id string.
type argon2idHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$hash. The parameters
// must appear in that order (PHC string format); salt and hash are base64
// without padding (padding is tolerated).
func parseArgon2id(hash string) (parsed, error) {
	fail := func(reason string) (parsed, error) {
		return nil, fmt.Errorf("%w: argon2id: %s", ErrMalformedHash, reason)
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("only version 19 is supported")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return fail("want parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return fail("want parameters m, t and p in that order")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || (len(v) > 1 && v[0] == '0') {
			return fail("parameter " + name + " is not a number")
		}
		vals[i] = n
	}
	h := &argon2idHash{memory: uint32(vals[0]), time: uint32(vals[1])} //nolint:gosec // G115: bounded: both are range-checked just below before use
	switch {
	case vals[2] < 1 || vals[2] > 255:
		return fail("p must be between 1 and 255")
	case vals[1] < 1 || vals[1] > MaxArgon2Time:
		return fail(fmt.Sprintf("t must be between 1 and %d", MaxArgon2Time))
	case vals[0] < 8*vals[2] || vals[0] > MaxArgon2Memory:
		return fail(fmt.Sprintf("m must be between 8×p and %d", MaxArgon2Memory))
	}
	h.threads = uint8(vals[2]) //nolint:gosec // G115: bounded: p was checked to be 1..255 above
	var err error
	if h.salt, err = decodeB64(parts[4]); err != nil || len(h.salt) < 8 {
		return fail("salt must be at least 8 bytes of base64")
	}
	if h.key, err = decodeB64(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 1024 {
		return fail("hash must be 16 to 1024 bytes of base64")
	}
	return h, nil
}

func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (h *argon2idHash) verify(password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key))) //nolint:gosec // G115: bounded: the key length was checked to be 16..1024 at parse
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// bcryptHash is a bcrypt hash checked for format and cost.
type bcryptHash []byte

// parseBcrypt checks $2x$NN$ + 53 characters of bcrypt base64 and the cost.
func parseBcrypt(hash string) (parsed, error) {
	if len(hash) != 60 || hash[6] != '$' {
		return nil, fmt.Errorf("%w: bcrypt: want $2b$NN$ followed by 53 characters", ErrMalformedHash)
	}
	for _, c := range hash[7:] {
		if !isCryptB64(c) {
			return nil, fmt.Errorf("%w: bcrypt: invalid character in salt or hash", ErrMalformedHash)
		}
	}
	if hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' {
		return nil, fmt.Errorf("%w: bcrypt: invalid cost", ErrMalformedHash)
	}
	cost := int(hash[4]-'0')*10 + int(hash[5]-'0')
	if cost < bcrypt.MinCost || cost > MaxBcryptCost {
		return nil, fmt.Errorf("%w: bcrypt: cost must be between %d and %d", ErrMalformedHash, bcrypt.MinCost, MaxBcryptCost)
	}
	return bcryptHash(hash), nil
}

// verify compares in constant time (bcrypt.CompareHashAndPassword does).
// Like OpenBSD's bcrypt, only the first 72 bytes of the password count.
func (h bcryptHash) verify(password string) bool {
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

// isCryptB64 reports whether c is in the crypt(3) base64 alphabet.
func isCryptB64(c rune) bool {
	return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}
