// Package storetest is the conformance suite every mail store backend must
// pass. A backend's test calls Run with a function that opens a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.TempDir(), sqlite.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Factory opens a fresh, empty store for one test. Run closes it when the
// test ends (Close must be safe to call twice).
type Factory func(t *testing.T) store.Store

// Run runs the whole suite, each test with its own store.
func Run(t *testing.T, newStore Factory) {
	groups := map[string]map[string]func(t *testing.T, e *env){
		"accounts":      accountTests,
		"folders":       folderTests,
		"rename":        renameTests,
		"messages":      messageTests,
		"flags":         flagTests,
		"headers":       headerTests,
		"index":         indexTests,
		"expunge":       expungeTests,
		"copy and move": copyTests,
		"notifications": notifyTests,
		"concurrency":   concurrencyTests,
	}
	for _, group := range sortedKeys(groups) {
		t.Run(group, func(t *testing.T) {
			tests := groups[group]
			for _, name := range sortedKeys(tests) {
				t.Run(name, func(t *testing.T) {
					tests[name](t, newEnv(t, newStore))
				})
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// env is one test's store with helpers that fail the test on error.
type env struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
}

func newEnv(t *testing.T, newStore Factory) *env {
	t.Helper()
	s := newStore(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return &env{t: t, s: s, ctx: t.Context()}
}

// account creates an account and returns its address.
func (e *env) account(address string) string {
	e.t.Helper()
	if _, err := e.s.EnsureAccount(e.ctx, address); err != nil {
		e.t.Fatalf("EnsureAccount(%q): %v", address, err)
	}
	return mail.Fold(address)
}

// body returns a small, distinct message.
func body(n int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nSubject: message %d\r\n\r\nBody of message %d.\r\n", n, n)
}

// deliver delivers one message to one folder and returns its UID.
func (e *env) deliver(f store.FolderRef, b []byte) store.UID {
	e.t.Helper()
	res, err := e.s.Submit(e.ctx, store.Submission{Body: b, Local: []store.DeliveryTarget{{Account: f.Account, Folder: f.Folder}}})
	if err != nil {
		e.t.Fatalf("Deliver to %s: %v", f, err)
	}
	if res[0].Err != nil {
		e.t.Fatalf("Deliver to %s: %v", f, res[0].Err)
	}
	return res[0].UID
}

// fill delivers n messages numbered from 1 and returns their UIDs.
func (e *env) fill(f store.FolderRef, n int) []store.UID {
	e.t.Helper()
	uids := make([]store.UID, n)
	for i := range n {
		uids[i] = e.deliver(f, body(i+1))
	}
	return uids
}

func (e *env) list(f store.FolderRef) store.MessageList {
	e.t.Helper()
	l, err := e.s.ListMessages(e.ctx, f, store.ListOptions{UIDs: store.AllUIDs()})
	if err != nil {
		e.t.Fatalf("ListMessages(%s): %v", f, err)
	}
	return l
}

func (e *env) uids(f store.FolderRef) []store.UID {
	e.t.Helper()
	var out []store.UID
	for _, m := range e.list(f).Messages {
		out = append(out, m.UID)
	}
	return out
}

func (e *env) status(f store.FolderRef) store.FolderStatus {
	e.t.Helper()
	st, err := e.s.FolderStatus(e.ctx, f)
	if err != nil {
		e.t.Fatalf("FolderStatus(%s): %v", f, err)
	}
	return st
}

func (e *env) usage(account string) store.Usage {
	e.t.Helper()
	u, err := e.s.Usage(e.ctx, account)
	if err != nil {
		e.t.Fatalf("Usage(%s): %v", account, err)
	}
	return u
}

func (e *env) body(f store.FolderRef, uid store.UID) []byte {
	e.t.Helper()
	b, err := e.s.Body(e.ctx, f, uid)
	if err != nil {
		e.t.Fatalf("Body(%s, %d): %v", f, uid, err)
	}
	return b
}

func (e *env) folderNames(account string) []string {
	e.t.Helper()
	folders, err := e.s.ListFolders(e.ctx, account)
	if err != nil {
		e.t.Fatalf("ListFolders(%s): %v", account, err)
	}
	var names []string
	for _, f := range folders {
		names = append(names, f.Name)
	}
	return names
}

func (e *env) updateFlags(u store.FlagUpdate) store.FlagUpdateResult {
	e.t.Helper()
	res, err := e.s.UpdateFlags(e.ctx, u)
	if err != nil {
		e.t.Fatalf("UpdateFlags(%s %v): %v", u.Folder, u.Flags, err)
	}
	return res
}

func (e *env) createFolder(f store.FolderRef) {
	e.t.Helper()
	if err := e.s.CreateFolder(e.ctx, f, store.CreateFolderOptions{}); err != nil {
		e.t.Fatalf("CreateFolder(%s): %v", f, err)
	}
}

// wantErr fails unless err matches want (nil meaning success).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func wantUIDs(t *testing.T, what string, got, want []store.UID) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: UIDs %v, want %v", what, got, want)
	}
}

func inbox(account string) store.FolderRef {
	return store.FolderRef{Account: account, Folder: store.Inbox}
}

func folder(account, name string) store.FolderRef {
	return store.FolderRef{Account: account, Folder: name}
}

// eventTimeout only guards against a hang; events normally arrive at once.
const eventTimeout = 10 * time.Second
