package pop3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kubemail/kubemail/internal/netserve"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Store is what a StoreBackend reads and changes in the mail store.
type Store interface {
	ListMessages(ctx context.Context, f store.FolderRef, opts store.ListOptions) (store.MessageList, error)
	Body(ctx context.Context, f store.FolderRef, uid store.UID) ([]byte, error)
	FolderStatus(ctx context.Context, f store.FolderRef) (store.FolderStatus, error)
	Expunge(ctx context.Context, r store.ExpungeRequest) (store.ExpungeResult, error)
}

// StoreBackend is the Backend of the bundled server: users log in with a
// mail.Authenticator and their maildrop is their account's INBOX in the
// store. Login is this package's boundary for mail's error set: invalid
// credentials (a suspended account included) answer "-ERR [AUTH]", anything
// else (throttling, a server fault) "-ERR [SYS/TEMP]".
type StoreBackend struct {
	Auth  mail.Authenticator
	Store Store
}

var _ Backend = StoreBackend{}

// Login implements Backend.
func (b StoreBackend) Login(ctx context.Context, c ConnInfo, username, password string) (Maildrop, error) {
	account, err := b.Auth.Authenticate(ctx, netserve.IPOf(c.RemoteAddr), username, password)
	switch {
	case err == nil:
	case errors.Is(err, mail.ErrInvalidCredentials):
		return nil, fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	default: // throttled, or a server fault: try again later
		return nil, TemporaryError(err)
	}
	return &maildrop{store: b.Store, ref: store.FolderRef{Account: account, Folder: store.Inbox}}, nil
}

// maildrop is an account's INBOX for one POP3 session. Its unique ids are
// "<uidvalidity>.<uid>" (RFC 1939 §7): a UID is never reused within a
// UIDVALIDITY and a UIDVALIDITY never within the store, so an id names one
// message forever. Sizes are the stored sizes: messages are stored with
// CRLF line endings (the SMTP server refuses bare CR and LF), exactly as
// RETR sends them before dot-stuffing.
type maildrop struct {
	store Store
	ref   store.FolderRef

	validity uint32      // UIDVALIDITY of the snapshot
	uids     []store.UID // the snapshot, by message index
}

var _ Maildrop = (*maildrop)(nil)

// Name implements Maildrop: the canonical account.
func (m *maildrop) Name() string { return m.ref.Account }

// List implements Maildrop.
func (m *maildrop) List(ctx context.Context) ([]MessageInfo, error) {
	list, err := m.store.ListMessages(ctx, m.ref, store.ListOptions{UIDs: store.AllUIDs()})
	if err != nil {
		return nil, TemporaryError(fmt.Errorf("listing %s: %w", m.ref, err))
	}
	m.validity = list.Status.UIDValidity
	m.uids = make([]store.UID, len(list.Messages))
	infos := make([]MessageInfo, len(list.Messages))
	for i, msg := range list.Messages {
		m.uids[i] = msg.UID
		infos[i] = MessageInfo{UID: uidl(m.validity, msg.UID), Size: msg.Size}
	}
	return infos, nil
}

// Open implements Maildrop.
func (m *maildrop) Open(ctx context.Context, index int) (io.ReadCloser, error) {
	if index < 0 || index >= len(m.uids) {
		return nil, TemporaryError(fmt.Errorf("opening message %d of %s: no such index", index, m.ref))
	}
	body, err := m.store.Body(ctx, m.ref, m.uids[index])
	if err != nil {
		return nil, TemporaryError(fmt.Errorf("opening message %d of %s: %w", index, m.ref, err))
	}
	return io.NopCloser(bytes.NewReader(body)), nil
}

// Commit implements Maildrop: one Expunge of exactly the UIDs given,
// which the store runs as one transaction. If INBOX no longer has the
// snapshot's UIDVALIDITY (it was deleted and re-created meanwhile), its
// UIDs name other messages and nothing is deleted.
func (m *maildrop) Commit(ctx context.Context, deleteUIDs []string) error {
	if len(deleteUIDs) == 0 {
		return nil
	}
	uids := make([]store.UID, 0, len(deleteUIDs))
	for _, id := range deleteUIDs {
		v, u, ok := parseUIDL(id)
		if !ok || v != m.validity {
			return TemporaryError(fmt.Errorf("committing deletions in %s: unknown unique id %q", m.ref, id))
		}
		uids = append(uids, u)
	}
	st, err := m.store.FolderStatus(ctx, m.ref)
	if err != nil {
		return TemporaryError(fmt.Errorf("committing deletions in %s: %w", m.ref, err))
	}
	if st.UIDValidity != m.validity {
		return TemporaryError(fmt.Errorf("committing deletions in %s: UIDVALIDITY changed from %d to %d",
			m.ref, m.validity, st.UIDValidity))
	}
	if _, err := m.store.Expunge(ctx, store.ExpungeRequest{Folder: m.ref, UIDs: store.UIDSetOf(uids...)}); err != nil {
		return TemporaryError(fmt.Errorf("committing deletions in %s: %w", m.ref, err))
	}
	return nil
}

// Close implements Maildrop; a maildrop holds no resources.
func (m *maildrop) Close() error { return nil }

// uidl formats a POP3 unique id.
func uidl(validity uint32, uid store.UID) string {
	return strconv.FormatUint(uint64(validity), 10) + "." + strconv.FormatUint(uint64(uid), 10)
}

// parseUIDL reads a unique id made by uidl.
func parseUIDL(id string) (validity uint32, uid store.UID, ok bool) {
	vs, us, found := strings.Cut(id, ".")
	if !found {
		return 0, 0, false
	}
	v, err1 := strconv.ParseUint(vs, 10, 32)
	u, err2 := strconv.ParseUint(us, 10, 32)
	if err1 != nil || err2 != nil || u == 0 {
		return 0, 0, false
	}
	return uint32(v), store.UID(u), true
}
