package auth

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"
)

// SHA512-CRYPT as specified by Ulrich Drepper, "Unix crypt using SHA-256 and
// SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt), the $6$ scheme of
// glibc's crypt(3) and Dovecot's SHA512-CRYPT. Step numbers in comments are
// the specification's.
const (
	sha512CryptMagic     = "$6$"
	sha512RoundsPrefix   = "rounds="
	sha512DefaultRounds  = 5000
	sha512MinRounds      = 1000
	sha512MaxSaltLen     = 16
	sha512EncodedHashLen = 86
	cryptB64Alphabet     = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// sha512CryptHash is a parsed $6$ hash.
type sha512CryptHash struct {
	rounds  int
	salt    []byte
	encoded string // the 86-character hash part
}

// parseSHA512Crypt parses $6$[rounds=N$]salt$hash. As in glibc, a rounds
// value below 1000 counts as 1000; values above [MaxSHA512CryptRounds] are
// refused rather than honoured.
func parseSHA512Crypt(hash string) (parsed, error) {
	fail := func(reason string) (parsed, error) {
		return nil, fmt.Errorf("%w: SHA512-CRYPT: %s", ErrMalformedHash, reason)
	}
	rest := strings.TrimPrefix(hash, sha512CryptMagic)
	h := &sha512CryptHash{rounds: sha512DefaultRounds}
	if after, ok := strings.CutPrefix(rest, sha512RoundsPrefix); ok {
		num, tail, found := strings.Cut(after, "$")
		if !found {
			return fail("want rounds=N$")
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > MaxSHA512CryptRounds {
			return fail(fmt.Sprintf("rounds must be a number up to %d", MaxSHA512CryptRounds))
		}
		h.rounds = max(int(n), sha512MinRounds)
		rest = tail
	}
	salt, encoded, found := strings.Cut(rest, "$")
	if !found {
		return fail("want $6$salt$hash")
	}
	if len(salt) > sha512MaxSaltLen {
		return fail("salt longer than 16 characters")
	}
	if len(encoded) != sha512EncodedHashLen {
		return fail("hash part must be 86 characters")
	}
	for _, c := range encoded {
		if !isCryptB64(c) {
			return fail("invalid character in hash part")
		}
	}
	h.salt = []byte(salt)
	h.encoded = encoded
	return h, nil
}

func (h *sha512CryptHash) verify(password string) bool {
	got := encodeSHA512Crypt(sha512Crypt([]byte(password), h.salt, h.rounds))
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.encoded)) == 1
}

// sha512Crypt computes the final digest C of the specification for a salt
// of at most 16 bytes and the given number of rounds.
func sha512Crypt(password, salt []byte, rounds int) []byte {
	const size = sha512.Size
	h := sha512.New()

	// Steps 4-8: digest B = SHA512(password || salt || password).
	h.Write(password)
	h.Write(salt)
	h.Write(password)
	b := h.Sum(nil)

	// Steps 1-3, 9-12: digest A.
	h.Reset()
	h.Write(password)
	h.Write(salt)
	n := len(password)
	for ; n > size; n -= size {
		h.Write(b)
	}
	h.Write(b[:n])
	for n := len(password); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(password)
		}
	}
	a := h.Sum(nil)

	// Steps 13-16: byte sequence P from digest DP (password repeated).
	h.Reset()
	for range len(password) {
		h.Write(password)
	}
	p := repeatTo(h.Sum(nil), len(password))

	// Steps 17-20: byte sequence S from digest DS (salt repeated 16+A[0] times).
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(nil), len(salt))

	// Step 21: the rounds.
	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return c
}

// repeatTo returns n bytes made of digest repeated (steps 16 and 20).
func repeatTo(digest []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out)+len(digest) <= n {
		out = append(out, digest...)
	}
	return append(out, digest[:n-len(out)]...)
}

// encodeSHA512Crypt encodes the 64-byte digest in the specification's
// permuted crypt base64 (step 22e).
func encodeSHA512Crypt(d []byte) string {
	var sb strings.Builder
	sb.Grow(sha512EncodedHashLen)
	put := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			sb.WriteByte(cryptB64Alphabet[w&0x3f])
			w >>= 6
		}
	}
	// The triples are (d[i], d[i+21], d[i+42]) rotated by i mod 3:
	// (0,21,42) (22,43,1) (44,2,23) (3,24,45) … (62,20,41), then d[63].
	for i := range 21 {
		x, y, z := d[i], d[i+21], d[i+42]
		switch i % 3 {
		case 0:
			put(x, y, z, 4)
		case 1:
			put(y, z, x, 4)
		default:
			put(z, x, y, 4)
		}
	}
	put(0, 0, d[63], 2)
	return sb.String()
}

// sha512CryptString returns the $6$ hash of password as crypt(3) would for
// the setting "$6$[rounds=N$]salt": only the first 16 bytes of salt count,
// rounds 0 means the default 5000 (not written into the hash). New hashes
// come from [Hash]; this serves the tests of the specification's vectors.
func sha512CryptString(password, salt string, rounds int) string {
	if len(salt) > sha512MaxSaltLen {
		salt = salt[:sha512MaxSaltLen]
	}
	prefix := sha512CryptMagic
	r := sha512DefaultRounds
	if rounds != 0 {
		r = min(max(rounds, sha512MinRounds), MaxSHA512CryptRounds)
		prefix += sha512RoundsPrefix + strconv.Itoa(r) + "$"
	}
	return prefix + salt + "$" + encodeSHA512Crypt(sha512Crypt([]byte(password), []byte(salt), r))
}
