package store

import (
	"context"
	"slices"
	"strings"
)

// FolderIndex is what opening a folder needs of every message, read in
// one consistent snapshot: IMAP SELECT reports the count, UIDNEXT, the
// first unseen message and the keywords in use, and keeps the UIDs to
// number the messages.
type FolderIndex struct {
	Status FolderStatus
	// UIDs are the folder's messages in ascending order.
	UIDs []UID
	// FirstUnseen is the lowest UID of a message without \Seen, 0 when
	// every message has it.
	FirstUnseen UID
	// Keywords are the keywords set on any message, sorted, one spelling
	// for each case-insensitively equal group (the first one met in UID
	// order).
	Keywords []string
}

// FolderIndexer is an optional interface of a MessageStore, discovered by
// type assertion: it reads a FolderIndex without building the full
// metadata of every message, which is what makes opening a large folder
// cheap. ReadFolderIndex falls back to ListMessages without it.
type FolderIndexer interface {
	// FolderIndex returns the folder's index; a missing folder or account
	// is reported like ListMessages does.
	FolderIndex(ctx context.Context, f FolderRef) (FolderIndex, error)
}

// ReadFolderIndex returns the folder's index from s, with FolderIndexer
// when s implements it and from a full listing otherwise.
func ReadFolderIndex(ctx context.Context, s MessageStore, f FolderRef) (FolderIndex, error) {
	if fi, ok := s.(FolderIndexer); ok {
		return fi.FolderIndex(ctx, f)
	}
	list, err := s.ListMessages(ctx, f, ListOptions{UIDs: AllUIDs()})
	if err != nil {
		return FolderIndex{}, err
	}
	idx := FolderIndex{Status: list.Status}
	if n := len(list.Messages); n > 0 {
		idx.UIDs = make([]UID, 0, n)
	}
	var kw KeywordSet
	for _, m := range list.Messages {
		idx.UIDs = append(idx.UIDs, m.UID)
		if idx.FirstUnseen == 0 && !m.Flags.Has(FlagSeen) {
			idx.FirstUnseen = m.UID
		}
		for _, k := range m.Flags.Keywords {
			kw.Add(k)
		}
	}
	idx.Keywords = kw.Sorted()
	return idx, nil
}

// KeywordSet collects keywords the way FolderIndex reports them. The zero
// value is empty and ready to use.
type KeywordSet struct {
	list []string
}

// Add adds k unless a case-insensitively equal keyword is already in the
// set.
func (s *KeywordSet) Add(k string) {
	if !slices.ContainsFunc(s.list, func(e string) bool { return strings.EqualFold(e, k) }) {
		s.list = append(s.list, k)
	}
}

// Has reports whether the set holds k, compared case-insensitively.
func (s *KeywordSet) Has(k string) bool {
	return slices.ContainsFunc(s.list, func(e string) bool { return strings.EqualFold(e, k) })
}

// Sorted returns the keywords in ascending byte order, nil for none.
func (s *KeywordSet) Sorted() []string {
	if len(s.list) == 0 {
		return nil
	}
	out := slices.Clone(s.list)
	slices.Sort(out)
	return out
}
