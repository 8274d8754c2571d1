package imap

import (
	"context"
	"runtime"
	"sync"
	"weak"

	"github.com/kubemail/kubemail/mailserver/store"
)

// snapshot is a folder as SELECT reports it, at one mod-sequence: its
// status, its UIDs, its first unseen message and the keywords in use.
// Snapshots are immutable and shared.
type snapshot struct {
	status      store.FolderStatus
	uids        *uidList
	firstUnseen store.UID
	keywords    []string
}

// snapshots shares the latest snapshot of every folder that sessions have
// selected, so a thousand sessions selecting one 10,000-message folder
// read its index once and hold one copy of its UIDs. An entry lives as
// long as some session's view still holds its UID list (a weak pointer):
// the cache costs nothing for folders nobody has open, and needs no
// invalidation, because a snapshot is found only for a folder whose
// mod-sequence has not moved past it (every change to a folder's messages
// takes a new mod-sequence, store package documentation).
type snapshots struct {
	mu sync.Mutex
	// m is keyed by UIDVALIDITY, which the store never gives two folders.
	m map[uint32]snapshotEntry
}

// snapshotEntry is a snapshot whose UID list may have been collected.
type snapshotEntry struct {
	status      store.FolderStatus
	uids        weak.Pointer[uidList]
	firstUnseen store.UID
	keywords    []string
}

// snapshotKey is what an entry's cleanup needs to remove exactly it.
type snapshotKey struct {
	uidValidity uint32
	uids        weak.Pointer[uidList]
}

func newSnapshots() *snapshots {
	return &snapshots{m: make(map[uint32]snapshotEntry)}
}

// folderReader is what snapshots reads a folder with.
type folderReader interface {
	store.FolderStore
	store.MessageStore
}

// load returns a snapshot of the folder for a session that has already
// subscribed to its changes. The folder's status is read first: a shared
// snapshot at that mod-sequence or later is as good as a fresh read,
// since the subscription delivers every change after the status and the
// session skips the changes the snapshot already holds. Otherwise the
// folder's index is read and shared.
func (c *snapshots) load(ctx context.Context, s folderReader, ref store.FolderRef) (snapshot, error) {
	st, err := s.FolderStatus(ctx, ref)
	if err != nil {
		return snapshot{}, err
	}
	if snap, ok := c.get(st); ok {
		return snap, nil
	}
	idx, err := store.ReadFolderIndex(ctx, s, ref)
	if err != nil {
		return snapshot{}, err
	}
	return c.put(snapshot{status: idx.Status, uids: newUIDList(idx.UIDs), firstUnseen: idx.FirstUnseen, keywords: idx.Keywords}), nil
}

// get returns the shared snapshot of the folder of st if it is at least
// as recent.
func (c *snapshots) get(st store.FolderStatus) (snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[st.UIDValidity]
	if !ok || e.status.HighestModSeq < st.HighestModSeq {
		return snapshot{}, false
	}
	return e.snapshot()
}

// put shares snap unless a snapshot at least as recent is shared already,
// and returns the one shared.
func (c *snapshots) put(snap snapshot) snapshot {
	if snap.uids == nil {
		return snap // an empty folder: nothing worth sharing
	}
	uv := snap.status.UIDValidity
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[uv]; ok && e.status.HighestModSeq >= snap.status.HighestModSeq {
		if shared, ok := e.snapshot(); ok {
			return shared
		}
	}
	wp := weak.Make(snap.uids)
	c.m[uv] = snapshotEntry{status: snap.status, uids: wp, firstUnseen: snap.firstUnseen, keywords: snap.keywords}
	runtime.AddCleanup(snap.uids, c.forget, snapshotKey{uidValidity: uv, uids: wp})
	return snap
}

// forget removes an entry whose UID list was collected, unless a newer
// one replaced it.
func (c *snapshots) forget(k snapshotKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k.uidValidity]; ok && e.uids == k.uids {
		delete(c.m, k.uidValidity)
	}
}

// len is the number of entries, for tests.
func (c *snapshots) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (e snapshotEntry) snapshot() (snapshot, bool) {
	uids := e.uids.Value()
	if uids == nil {
		return snapshot{}, false
	}
	return snapshot{status: e.status, uids: uids, firstUnseen: e.firstUnseen, keywords: e.keywords}, true
}
