package imap

import (
	"context"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// specialUses maps RFC 6154 attributes to the store's.
var specialUses = map[imap.MailboxAttr]store.SpecialUse{
	imap.MailboxAttrAll:     store.SpecialAll,
	imap.MailboxAttrArchive: store.SpecialArchive,
	imap.MailboxAttrDrafts:  store.SpecialDrafts,
	imap.MailboxAttrFlagged: store.SpecialFlagged,
	imap.MailboxAttrJunk:    store.SpecialJunk,
	imap.MailboxAttrSent:    store.SpecialSent,
	imap.MailboxAttrTrash:   store.SpecialTrash,
}

// Create implements imapserver.Session (RFC 9051 §6.3.4, RFC 6154 §3
// CREATE-SPECIAL-USE). Missing superior folders are created too.
func (s *session) Create(name string, options *imap.CreateOptions) (err error) {
	ctx := s.begin()
	defer s.end("CREATE", &err)
	if name, err = folderName(name, true); err != nil {
		return err
	}
	var opts store.CreateFolderOptions
	switch len(options.SpecialUse) {
	case 0:
	case 1:
		use, ok := specialUses[options.SpecialUse[0]]
		if !ok {
			return errOneSpecialUse
		}
		opts.SpecialUse = use
	default:
		return errOneSpecialUse
	}
	return s.srv.opts.Store.CreateFolder(ctx, store.FolderRef{Account: s.account, Folder: name}, opts)
}

// Delete implements imapserver.Session (RFC 9051 §6.3.5): INBOX and
// folders with inferiors cannot be deleted.
func (s *session) Delete(name string) (err error) {
	ctx := s.begin()
	defer s.end("DELETE", &err)
	if name, err = folderName(name, false); err != nil {
		return err
	}
	return s.srv.opts.Store.DeleteFolder(ctx, store.FolderRef{Account: s.account, Folder: name})
}

// Rename implements imapserver.Session (RFC 9051 §6.3.6); renaming INBOX
// moves its messages to the new folder and leaves INBOX empty.
func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) (err error) {
	ctx := s.begin()
	defer s.end("RENAME", &err)
	if oldName, err = folderName(oldName, false); err != nil {
		return err
	}
	if newName, err = folderName(newName, true); err != nil {
		return err
	}
	if newName == store.Inbox {
		return storeError(store.ErrFolderExists)
	}
	return s.srv.opts.Store.RenameFolder(ctx, s.account, oldName, newName)
}

// Subscribe implements imapserver.Session.
func (s *session) Subscribe(name string) (err error) {
	return s.setSubscribed("SUBSCRIBE", name, true)
}

// Unsubscribe implements imapserver.Session.
func (s *session) Unsubscribe(name string) (err error) {
	return s.setSubscribed("UNSUBSCRIBE", name, false)
}

func (s *session) setSubscribed(command, name string, on bool) (err error) {
	ctx := s.begin()
	defer s.end(command, &err)
	if name, err = folderName(name, false); err != nil {
		return err
	}
	return s.srv.opts.Store.SetSubscribed(ctx, store.FolderRef{Account: s.account, Folder: name}, on)
}

// List implements imapserver.Session for LIST (RFC 9051 §6.3.9, with
// LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154 and LIST-STATUS RFC 5819)
// and LSUB.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) (err error) {
	ctx := s.begin()
	defer s.end("LIST", &err)
	if len(patterns) == 0 {
		// LIST "" "": the delimiter and the root (RFC 9051 §6.3.9).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delimiter})
	}
	for i, p := range patterns {
		patterns[i] = listPattern(ref, p)
		if len(patterns[i]) > maxPatternBytes {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Pattern too long"}
		}
	}
	folders, err := s.srv.opts.Store.ListFolders(ctx, s.account)
	if err != nil {
		return err
	}
	tree := newFolderTree(folders)
	for i := range folders {
		f := &folders[i]
		if !matchesAny(f.Name, patterns) {
			continue
		}
		data := &imap.ListData{Delim: delimiter, Mailbox: f.Name}
		switch {
		case options.SelectSpecialUse && f.SpecialUse == store.SpecialNone:
			continue
		case options.SelectSubscribed && !f.Subscribed:
			if !options.SelectRecursiveMatch || !tree.subscribedBelow[f.Name] {
				continue
			}
			// RFC 5258 §3.5: reported for its subscribed inferiors only.
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		data.Attrs = tree.attrs(f, options.SelectSubscribed || options.ReturnSubscribed)
		if options.ReturnStatus != nil && data.ChildInfo == nil {
			if data.Status, err = s.statusData(ctx, f.Name, f.Status, options.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if matchPattern(name, p) {
			return true
		}
	}
	return false
}

// folderTree answers hierarchy questions about an account's folders.
type folderTree struct {
	byName          map[string]*store.Folder
	hasChildren     map[string]bool
	subscribedBelow map[string]bool
}

func newFolderTree(folders []store.Folder) *folderTree {
	t := &folderTree{
		byName:          make(map[string]*store.Folder, len(folders)),
		hasChildren:     make(map[string]bool),
		subscribedBelow: make(map[string]bool),
	}
	for i := range folders {
		f := &folders[i]
		t.byName[f.Name] = f
		for p := f.Name; ; {
			i := strings.LastIndex(p, store.Delimiter)
			if i < 0 {
				break
			}
			p = p[:i]
			t.hasChildren[p] = true
			if f.Subscribed {
				t.subscribedBelow[p] = true
			}
		}
	}
	return t
}

// attrs are the LIST attributes of f: children (RFC 3348), special use
// (RFC 6154) and, when asked, \Subscribed (RFC 5258).
func (t *folderTree) attrs(f *store.Folder, subscribed bool) []imap.MailboxAttr {
	attrs := make([]imap.MailboxAttr, 0, 3)
	if t.hasChildren[f.Name] {
		attrs = append(attrs, imap.MailboxAttrHasChildren)
	} else {
		attrs = append(attrs, imap.MailboxAttrHasNoChildren)
	}
	if subscribed && f.Subscribed {
		attrs = append(attrs, imap.MailboxAttrSubscribed)
	}
	if f.SpecialUse != store.SpecialNone {
		attrs = append(attrs, imap.MailboxAttr(f.SpecialUse))
	}
	return attrs
}

// Status implements imapserver.Session (RFC 9051 §6.3.11, STATUS=SIZE
// RFC 8438, APPENDLIMIT RFC 7889).
func (s *session) Status(name string, options *imap.StatusOptions) (_ *imap.StatusData, err error) {
	ctx := s.begin()
	defer s.end("STATUS", &err)
	if name, err = folderName(name, false); err != nil {
		return nil, err
	}
	st, err := s.srv.opts.Store.FolderStatus(ctx, store.FolderRef{Account: s.account, Folder: name})
	if err != nil {
		return nil, err
	}
	return s.statusData(ctx, name, st, options)
}

// statusData fills every item the client asked for: the library writes
// them without checking for nil.
func (s *session) statusData(ctx context.Context, name string, st store.FolderStatus, options *imap.StatusOptions) (*imap.StatusData, error) {
	data := &imap.StatusData{Mailbox: name, UIDNext: imap.UID(st.UIDNext), UIDValidity: st.UIDValidity}
	messages, unseen, size := st.Messages, st.Unseen, st.Size
	var recent uint32
	limit := s.AppendLimit()
	data.NumMessages, data.NumUnseen, data.Size, data.NumRecent, data.AppendLimit = &messages, &unseen, &size, &recent, &limit
	if options.NumDeleted || options.DeletedStorage {
		// The store keeps no count of \Deleted messages: count them.
		list, err := s.srv.opts.Store.ListMessages(ctx, store.FolderRef{Account: s.account, Folder: name},
			store.ListOptions{UIDs: store.AllUIDs()})
		if err != nil {
			return nil, err
		}
		var deleted uint32
		var storage int64
		for _, m := range list.Messages {
			if m.Flags.Has(store.FlagDeleted) {
				deleted++
				storage += m.Size
			}
		}
		data.NumDeleted, data.DeletedStorage = &deleted, &storage
	}
	return data, nil
}
