package auth

import (
	"errors"
	"strings"
	"testing"
)

// Vectors made outside this package:
//   - SHA512-CRYPT and bcrypt with Python 3.11's crypt module (libxcrypt) and
//     `openssl passwd -6`;
//   - Dovecot's with `doveadm pw -s SCHEME` (Dovecot 2.3).
//   - The argon2id vector is from the reference implementation's test suite
//     (phc-winner-argon2 src/test.c).
var verifyCases = map[string]struct {
	hash     string
	password string
	want     bool
}{
	"argon2id reference vector verifies": {
		hash:     "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		password: "password", want: true,
	},
	"Dovecot {ARGON2ID} verifies": {
		hash:     "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$wvQV96DWbutLvIy6yRY+3Q$O8xPsPkRR/t0DJzK0M/S8GYao/ZAVFoVIiLVNRoPzMU",
		password: "dovecot ARGON2ID pw", want: true,
	},
	"Dovecot {ARGON2ID} refuses a wrong password": {
		hash:     "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$wvQV96DWbutLvIy6yRY+3Q$O8xPsPkRR/t0DJzK0M/S8GYao/ZAVFoVIiLVNRoPzMU",
		password: "dovecot ARGON2ID pw ",
	},
	"bcrypt $2b$ verifies": {
		hash:     "$2b$05$abcdefghijklmnopqrstuuS0TNuUKeHEI4dIzi2OnnJXK77gW5q4q",
		password: "bcrypt-pass", want: true,
	},
	"bcrypt $2y$ verifies": {
		hash:     "$2y$04$0123456789abcdefghijkeVlX3rvmp1vvo27KYh9Gzsdgp.iKcVnC",
		password: "blowfish 2y", want: true,
	},
	"bcrypt $2a$ verifies": {
		hash:     "$2a$04$mnopqrstuvwxyzABCDEFG.wwK2tgNr1y5nhWRfpGvpIJLdrJv69D2",
		password: "blowfish 2a", want: true,
	},
	"bcrypt refuses a wrong password": {
		hash:     "$2a$04$mnopqrstuvwxyzABCDEFG.wwK2tgNr1y5nhWRfpGvpIJLdrJv69D2",
		password: "blowfish 2b",
	},
	"Dovecot {BLF-CRYPT} verifies": {
		hash:     "{BLF-CRYPT}$2y$05$5LX1bktneBt01dPQxbeyee.kiLoHZQbEf9.GAlDfXRS.BDxAEeDF6",
		password: "dovecot BLF-CRYPT pw", want: true,
	},
	"SHA512-CRYPT with default rounds verifies": {
		hash:     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		password: "Hello world!", want: true,
	},
	"SHA512-CRYPT refuses a wrong password": {
		hash:     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		password: "Hello world",
	},
	"SHA512-CRYPT from openssl passwd -6 verifies": {
		hash:     "$6$OpenSSLsalt$cw0hPbzOHIEunOxz5vI4zi8gLwrzhAHNs.1UywSQ38I0.x2VgCRqhnGihO0Cehwlkalgwzzdrt1uM/reD2JA5.",
		password: "openssl password", want: true,
	},
	"SHA512-CRYPT with an empty password verifies": {
		hash:     "$6$rounds=1000$emptypass$3wLYQw5ctLLSwtsjhvfScdsOgwSMcdlQ5UfbvE7jkiphunABxPKG.vWD59wu03D7nl5.IRp3aELUUD1m3iyTd/",
		password: "", want: true,
	},
	"SHA512-CRYPT with a UTF-8 password verifies": {
		hash:     "$6$rounds=5000$Zq1.xY/9$DvWCQnLuHizf0UpuCXdKf2lIqeQU1jNZF2RzwS8SZTrGK/B6ZUq9g6Vm.j4XmrKaOKlO5WHvU/3yjEedQ1NH//",
		password: "pässwörd ünïcode", want: true,
	},
	"SHA512-CRYPT with a password longer than one digest verifies": {
		hash:     "$6$longpw$Twg.5yo9tdE0/GKj1C9dbKPzN/7PpOhfimMWAki/FOXdeFw9B0G9qAY8tiTfvNA1f1ZfL5d8c4Zo.NC9CM2eZ0",
		password: strings.Repeat("x", 200), want: true,
	},
	"SHA512-CRYPT with a password of exactly one digest verifies": {
		hash:     "$6$blk64$k1k9RrHqMxHzVpeWIs.LPwS2k1UbILfBcBXuLeiE.QjwsQMpV8ECHHGjCAdhxn1siYFnRCeelBExWdImn4xoH1",
		password: "exactly-sixty-four-bytes-password-for-block-boundary-test-123456", want: true,
	},
	"Dovecot {SHA512-CRYPT} verifies": {
		hash:     "{SHA512-CRYPT}$6$BKJV5vbO9LYHzS53$lzxrArGM5pkRpJPTd3oCtBz8ndiqZrAV2LZwAjGiy0U.PwVWFuVZYthwCzJ80g4Vu/TS1K2nzJEjclUsexmam1",
		password: "dovecot SHA512-CRYPT pw", want: true,
	},
	"Dovecot {SHA512-CRYPT} with explicit rounds verifies": {
		hash:     "{SHA512-CRYPT}$6$rounds=20000$Pbcmie/hAmt348IS$WFGY/DZJ10hS87WqrPGJb8dvqH2oBYSjnOxInArD1HpcW/uf0.aHBYpeaWUGnyd3k0Y7yEQ1u320OCufa7AJa/",
		password: "dovecot rounds", want: true,
	},
	"a lower-case Dovecot prefix verifies": {
		hash:     "{sha512-crypt}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		password: "Hello world!", want: true,
	},
	"the generic {CRYPT} prefix verifies a $6$ hash": {
		hash:     "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		password: "Hello world!", want: true,
	},
	"a password longer than the maximum never verifies": {
		hash:     "$2b$05$abcdefghijklmnopqrstuuS0TNuUKeHEI4dIzi2OnnJXK77gW5q4q",
		password: strings.Repeat("p", MaxPasswordLength+1),
	},
}

func TestVerify(t *testing.T) {
	for name, tc := range verifyCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if !Recognized(tc.hash) {
				t.Fatalf("Recognized = false")
			}
			got, err := Verify(tc.hash, tc.password)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyRefusesMalformedHashes(t *testing.T) {
	const b64 = "c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	const sha = "svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
	cases := map[string]struct {
		hash   string
		reason string
	}{
		"an empty hash":                          {"", "unknown format"},
		"a plaintext password":                   {"hunter2", "unknown format"},
		"an MD5-CRYPT hash":                      {"$1$salt$qJH7.N4xYta3aEG/dfqo/0", "unknown format"},
		"an unsupported Dovecot scheme":          {"{PLAIN}secret", "unsupported scheme {PLAIN}"},
		"an unterminated Dovecot prefix":         {"{SHA512-CRYPT$6$saltstring$" + sha, "unterminated"},
		"a prefix naming another family":         {"{BLF-CRYPT}$6$saltstring$" + sha, "does not match"},
		"argon2i instead of argon2id":            {"$argon2i$v=19$m=65536,t=2,p=1$" + b64, "unknown format"},
		"argon2id without a version":             {"$argon2id$m=65536,t=2,p=1$" + b64, "want $argon2id$"},
		"argon2id version 16":                    {"$argon2id$v=16$m=65536,t=2,p=1$" + b64, "only version 19"},
		"argon2id parameters out of order":       {"$argon2id$v=19$t=2,m=65536,p=1$" + b64, "in that order"},
		"argon2id with a missing parameter":      {"$argon2id$v=19$m=65536,t=2$" + b64, "want parameters"},
		"argon2id with a non-numeric parameter":  {"$argon2id$v=19$m=lots,t=2,p=1$" + b64, "not a number"},
		"argon2id with zero passes":              {"$argon2id$v=19$m=65536,t=0,p=1$" + b64, "t must be"},
		"argon2id with too many passes":          {"$argon2id$v=19$m=65536,t=65,p=1$" + b64, "t must be"},
		"argon2id with too much memory":          {"$argon2id$v=19$m=2097152,t=2,p=1$" + b64, "m must be"},
		"argon2id with too little memory":        {"$argon2id$v=19$m=7,t=2,p=1$" + b64, "m must be"},
		"argon2id with zero lanes":               {"$argon2id$v=19$m=65536,t=2,p=0$" + b64, "p must be"},
		"argon2id with a short salt":             {"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "salt"},
		"argon2id with bad base64 in the hash":   {"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$!!!!", "hash must be"},
		"argon2id with a short hash":             {"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1a", "hash must be"},
		"bcrypt that is too short":               {"$2b$05$abcdefghijklmnopqrstuu", "want $2b$NN$"},
		"bcrypt with a non-numeric cost":         {"$2b$x5$abcdefghijklmnopqrstuuS0TNuUKeHEI4dIzi2OnnJXK77gW5q4q", "invalid cost"},
		"bcrypt with a cost above the maximum":   {"$2b$18$abcdefghijklmnopqrstuuS0TNuUKeHEI4dIzi2OnnJXK77gW5q4q", "cost must be"},
		"bcrypt with a cost below the minimum":   {"$2b$03$abcdefghijklmnopqrstuuS0TNuUKeHEI4dIzi2OnnJXK77gW5q4q", "cost must be"},
		"bcrypt with a bad character":            {"$2b$05$abcdefghijklmnopqrstuuS0TNuUKeHEI4dIzi2OnnJXK77gW5q4!", "invalid character"},
		"SHA512-CRYPT without a hash part":       {"$6$saltstring", "want $6$salt$hash"},
		"SHA512-CRYPT with a short hash part":    {"$6$saltstring$svn8UoSV", "86 characters"},
		"SHA512-CRYPT with a salt over 16 bytes": {"$6$saltstringsaltstring$" + sha, "salt longer"},
		"SHA512-CRYPT with too many rounds":      {"$6$rounds=10000001$salt$" + sha, "rounds must be"},
		"SHA512-CRYPT with non-numeric rounds":   {"$6$rounds=many$salt$" + sha, "rounds must be"},
		"SHA512-CRYPT with unterminated rounds":  {"$6$rounds=5000", "want rounds=N$"},
		"SHA512-CRYPT with a bad character":      {"$6$saltstring$" + sha[:85] + "!", "invalid character"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if Recognized(tc.hash) {
				t.Errorf("Recognized = true")
			}
			ok, err := Verify(tc.hash, "password")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v; want false, ErrMalformedHash", ok, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not contain %q", err, tc.reason)
			}
			if tc.hash != "" && len(tc.hash) > 8 && strings.Contains(err.Error(), tc.hash) {
				t.Errorf("error %q reveals the hash", err)
			}
		})
	}
}

// The specification's own test vectors, which exercise salt truncation and
// rounds clamping as crypt(3) applies them to a setting string.
func TestSHA512CryptSpecificationVectors(t *testing.T) {
	cases := map[string]struct {
		salt     string
		rounds   int
		password string
		want     string
	}{
		"default rounds": {"saltstring", 0, "Hello world!",
			"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		"salt truncated to 16 bytes": {"saltstringsaltstring", 10000, "Hello world!",
			"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		"explicit default rounds": {"toolongsaltstring", 5000, "This is just a test",
			"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
		"a long password": {"anotherlongsaltstring", 1400, "a very much longer text to encrypt.  This one even stretches over morethan one line.",
			"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
		"a short salt": {"short", 77777, "we have a short salt string but not a short password",
			"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
		"a salt of exactly 16 bytes": {"asaltof16chars..", 123456, "a short string",
			"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
		"rounds below the minimum are raised to 1000": {"roundstoolow", 10, "the minimum number is still observed",
			"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := sha512CryptString(tc.password, tc.salt, tc.rounds)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if ok, err := Verify(got, tc.password); !ok || err != nil {
				t.Errorf("Verify(own output) = %v, %v", ok, err)
			}
		})
	}
}

func TestHashMakesVerifiableArgon2id(t *testing.T) {
	h1, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Errorf("two hashes of one password are equal; salt not random")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not carry the documented parameters", h1)
	}
	for password, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		if ok, err := Verify(h1, password); ok != want || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want %v", password, ok, err, want)
		}
	}
	if _, err := Hash(strings.Repeat("p", MaxPasswordLength+1)); err == nil {
		t.Errorf("Hash accepted a password longer than MaxPasswordLength")
	}
}
