package msgauth

import (
	"bytes"
	"crypto"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// signedFields are the header fields signed when present (RFC 6376
// §5.4.1's recommendation, plus MIME and list fields). From is signed
// once more than it occurs, so no From field can be added without
// breaking the signature (RFC 6376 §8.15).
var signedFields = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc", "Resent-Message-ID",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Post", "List-Owner", "List-Archive",
}

// SignKey names the key that signs for a domain.
type SignKey struct {
	// Domain is the signing domain (d=).
	Domain string
	// Selector is the key's selector (s=).
	Selector string
	// KeyFile is the PEM private key.
	KeyFile string
}

// Signer adds DKIM signatures (RFC 6376) with relaxed/relaxed
// canonicalisation and SHA-256, RSA or Ed25519 (RFC 8463) by the key's
// type. Keys are read from their files on first use and again whenever a
// file's modification time or size changes, so a rotated key (a new
// Secret mounted) is used without a restart. It is safe for concurrent use.
// The signature time (t=) is go-msgauth's clock, the system's.
type Signer struct {
	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	mod  time.Time
	size int64
	key  crypto.Signer
}

// NewSigner returns a Signer.
func NewSigner() *Signer {
	return &Signer{keys: map[string]cachedKey{}}
}

// key returns the key in path, from the cache while the file is unchanged.
func (s *Signer) key(path string) (crypto.Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading DKIM key: %w", err)
	}
	s.mu.Lock()
	c, ok := s.keys[path]
	s.mu.Unlock()
	if ok && c.mod.Equal(st.ModTime()) && c.size == st.Size() {
		return c.key, nil
	}
	k, err := LoadKey(path)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.keys[path] = cachedKey{mod: st.ModTime(), size: st.Size(), key: k}
	s.mu.Unlock()
	return k, nil
}

// Sign returns msg with a DKIM-Signature field prepended.
func (s *Signer) Sign(msg []byte, k SignKey) ([]byte, error) {
	key, err := s.key(k.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("signing for %s: %w", k.Domain, err)
	}
	fields, _ := SplitHeader(msg)
	present := map[string]int{}
	for _, f := range fields {
		present[strings.ToLower(f.Name)]++
	}
	var keys []string
	for _, name := range signedFields {
		for range present[strings.ToLower(name)] {
			keys = append(keys, name)
		}
	}
	keys = append(keys, "From") // over-signed: see signedFields
	opts := &dkim.SignOptions{
		Domain:                 k.Domain,
		Selector:               k.Selector,
		Signer:                 key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	}
	signer, err := dkim.NewSigner(opts)
	if err != nil {
		return nil, fmt.Errorf("signing for %s: %w", k.Domain, err)
	}
	defer signer.Close()
	if _, err := signer.Write(msg); err != nil {
		return nil, fmt.Errorf("signing for %s: %w", k.Domain, err)
	}
	if err := signer.Close(); err != nil {
		return nil, fmt.Errorf("signing for %s: %w", k.Domain, err)
	}
	var b bytes.Buffer
	b.Grow(len(msg) + 1024)
	b.WriteString(signer.Signature())
	b.Write(msg)
	return b.Bytes(), nil
}
