package imap

import (
	"errors"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// systemFlags are the flags every folder supports (RFC 9051 §2.3.2).
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// Select implements imapserver.Session for SELECT and EXAMINE. The library
// has already unselected a previously selected folder.
func (s *session) Select(name string, options *imap.SelectOptions) (_ *imap.SelectData, err error) {
	ctx := s.begin()
	defer s.end("SELECT", &err)
	s.unselect()
	if name, err = folderName(name, false); err != nil {
		return nil, err
	}
	ref := store.FolderRef{Account: s.account, Folder: name}
	// Subscribe before reading, so no change falls between the snapshot and
	// the first event; events the snapshot already holds are skipped by
	// their mod-sequence.
	sub, err := s.srv.opts.Store.Subscribe(store.SubscribeOptions{Account: s.account, Folder: name})
	if err != nil {
		return nil, err
	}
	snap, err := s.srv.snapshots.load(ctx, s.srv.opts.Store, ref)
	if err != nil {
		sub.Close()
		return nil, err
	}
	folders, err := s.srv.opts.Store.ListFolders(ctx, s.account)
	if err != nil {
		sub.Close()
		return nil, err
	}
	m := &mailbox{
		ref:         ref,
		readOnly:    options.ReadOnly,
		uidValidity: snap.status.UIDValidity,
		uids:        snap.uids,
		modSeq:      snap.status.HighestModSeq,
		sub:         sub,
	}
	data := &imap.SelectData{
		NumMessages: num32(m.count()),
		UIDNext:     imap.UID(snap.status.UIDNext),
		UIDValidity: snap.status.UIDValidity,
	}
	if i, ok := m.index(snap.firstUnseen); ok {
		data.FirstUnseenSeqNum = num32(i + 1)
	}
	data.Flags = slices.Clone(systemFlags)
	for _, k := range snap.keywords {
		data.Flags = append(data.Flags, imap.Flag(k))
	}
	data.PermanentFlags = append(slices.Clone(data.Flags), imap.FlagWildcard)
	if m.readOnly {
		data.PermanentFlags = nil
	}
	// RFC 9051 §6.3.2: SELECT returns the folder's LIST response.
	tree := newFolderTree(folders)
	if f, ok := tree.byName[name]; ok {
		data.List = &imap.ListData{Attrs: tree.attrs(f, false), Delim: delimiter, Mailbox: name}
	}
	s.sel = m
	return data, nil
}

// Unselect implements imapserver.Session (UNSELECT, CLOSE, and before a
// new SELECT).
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel != nil {
		if s.sel.sub != nil {
			s.sel.sub.Close()
		}
		s.sel = nil
	}
}

// Poll implements imapserver.Session: after every command the client is
// told what changed in the selected folder. Errors close the connection,
// so store failures are logged and retried at the next poll.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) (err error) {
	s.mu.Lock()
	defer s.end("POLL", &err)
	defer s.batch(&err)()
	return s.sync(w, allowExpunge)
}

// Idle implements imapserver.Session (RFC 2177, RFC 9051 §6.3.13): changes
// committed by any session, by SMTP delivery or by POP3 are written as they
// arrive. The library ends IDLE after 35 minutes without DONE (RFC 9051
// §5.4 asks for at least 30).
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) (err error) {
	s.mu.Lock()
	defer s.end("IDLE", &err)
	if err := s.sync(w, true); err != nil {
		return err
	}
	for {
		var ready, done <-chan struct{}
		if m := s.sel; m != nil && m.sub != nil {
			ready, done = m.sub.Ready(), m.sub.Done()
		}
		select {
		case <-stop:
			return nil
		case <-done:
			// The store closed: nothing more will come.
			<-stop
			return nil
		case <-ready:
			if err := s.sync(w, true); err != nil {
				return err
			}
		}
	}
}

// sync applies the selected folder's pending events to the view and writes
// EXISTS, EXPUNGE and FETCH FLAGS responses. It returns only write errors.
func (s *session) sync(w *imapserver.UpdateWriter, allowExpunge bool) error {
	m := s.sel
	if m == nil || m.sub == nil {
		return nil
	}
	events, lost := m.sub.Take()
	switch {
	case lost:
		m.resync, m.pending = true, nil
	case !m.resync:
		m.pending = append(m.pending, events...)
	}
	a := &announcer{w: w, m: m, known: m.count()}
	for !m.resync && len(m.pending) > 0 {
		applied, err := s.apply(a, m.pending[0], allowExpunge)
		if err != nil {
			return err
		}
		if !applied {
			break
		}
		if len(m.pending) > 0 { // follow drops pending events
			m.pending[0] = store.Event{}
			m.pending = m.pending[1:]
		}
	}
	if len(m.pending) == 0 {
		m.pending = nil
	}
	if err := a.flush(); err != nil {
		return err
	}
	if m.resync {
		return s.resync(w, allowExpunge)
	}
	return nil
}

// announcer writes a view's changes in an order the client can follow:
// new messages are announced with one EXISTS before any EXPUNGE or FETCH
// that could refer to them.
type announcer struct {
	w     *imapserver.UpdateWriter
	m     *mailbox
	known int // messages the client knows of
}

func (a *announcer) flush() error {
	if a.m.count() <= a.known {
		return nil
	}
	a.known = a.m.count()
	return a.w.WriteNumMessages(num32(a.known))
}

func (a *announcer) expunge(uids []store.UID) error {
	if err := a.flush(); err != nil {
		return err
	}
	err := a.m.remove(uids, a.w.WriteExpunge)
	a.known = a.m.count()
	return err
}

// apply applies one event; it reports false when the event must wait
// because it would expunge while EXPUNGE responses are not allowed.
func (s *session) apply(a *announcer, ev store.Event, allowExpunge bool) (bool, error) {
	m := s.sel
	switch ev.Kind {
	case store.EventMessagesAdded, store.EventFlagsChanged, store.EventExpunged:
		if m.gone || ev.UIDValidity != m.uidValidity || ev.ModSeq <= m.modSeq {
			return true, nil // another folder of that name, or already seen
		}
	}
	switch ev.Kind {
	case store.EventMessagesAdded:
		last := m.maxUID()
		i := sort.Search(len(ev.UIDs), func(i int) bool { return ev.UIDs[i] > last })
		m.add(ev.UIDs[i:])
	case store.EventFlagsChanged:
		if m.takeOwn(ev.ModSeq) {
			break
		}
		if err := a.flush(); err != nil {
			return false, err
		}
		for _, fs := range ev.Flags {
			if i, ok := m.index(fs.UID); ok {
				if err := a.w.WriteMessageFlags(num32(i+1), imap.UID(fs.UID), flagList(fs.Flags)); err != nil {
					return false, err
				}
			}
		}
	case store.EventExpunged:
		if !slices.ContainsFunc(ev.UIDs, func(u store.UID) bool { _, ok := m.index(u); return ok }) {
			break
		}
		if !allowExpunge {
			return false, nil
		}
		if err := a.expunge(ev.UIDs); err != nil {
			return false, err
		}
	case store.EventFolderRenamed:
		if ev.OldFolder == m.ref.Folder && ev.UIDValidity == m.uidValidity {
			s.follow(ev.Folder)
		}
		return true, nil
	case store.EventFolderDeleted, store.EventAccountDeleted:
		if ev.Kind == store.EventFolderDeleted && (ev.Folder != m.ref.Folder || ev.UIDValidity != m.uidValidity) {
			return true, nil
		}
		if m.count() > 0 && !allowExpunge {
			return false, nil
		}
		m.gone = true
		return true, a.expunge(slices.Collect(m.uids.values()))
	default:
		return true, nil
	}
	m.modSeq = max(m.modSeq, ev.ModSeq)
	return true, nil
}

// follow keeps the view on its folder after a rename: the subscription
// moves to the new name and the view is compared with the store, since
// events of the new name may have been missed meanwhile.
func (s *session) follow(newName string) {
	m := s.sel
	m.sub.Close()
	m.sub = nil
	m.ref.Folder = newName
	m.pending = nil
	m.resync = true
	sub, err := s.srv.opts.Store.Subscribe(store.SubscribeOptions{Account: s.account, Folder: newName})
	if err != nil {
		s.log.Error("Following renamed IMAP folder failed", "err", err)
		return // the view stays frozen; commands still work by name
	}
	m.sub = sub
}

// resync compares the view with the store after events were lost.
func (s *session) resync(w *imapserver.UpdateWriter, allowExpunge bool) error {
	m := s.sel
	ctx, cancel := s.storeCtx()
	defer cancel()
	list, err := s.srv.opts.Store.ListMessages(ctx, m.ref, store.ListOptions{UIDs: store.AllUIDs()})
	gone := errors.Is(err, store.ErrFolderNotFound) || (err == nil && list.Status.UIDValidity != m.uidValidity)
	switch {
	case gone:
		list = store.MessageList{}
	case err != nil:
		s.log.Warn("Resynchronising IMAP view failed", "err", err)
		return nil
	}
	var expunged []store.UID
	j := 0
	for _, u := range m.uids.all() {
		for j < len(list.Messages) && list.Messages[j].UID < u {
			j++
		}
		if j >= len(list.Messages) || list.Messages[j].UID != u {
			expunged = append(expunged, u)
		}
	}
	if len(expunged) > 0 {
		if !allowExpunge {
			m.resync = true
			return nil
		}
		if err := m.remove(expunged, w.WriteExpunge); err != nil {
			return err
		}
	}
	m.resync, m.own, m.gone = false, nil, gone
	last := m.maxUID()
	before := m.count()
	var added []store.UID
	for _, msg := range list.Messages {
		if msg.UID > last {
			added = append(added, msg.UID)
			continue
		}
		if msg.ModSeq > m.modSeq {
			if i, ok := m.index(msg.UID); ok {
				if err := w.WriteMessageFlags(num32(i+1), imap.UID(msg.UID), flagList(msg.Flags)); err != nil {
					return err
				}
			}
		}
	}
	m.add(added)
	m.modSeq = max(m.modSeq, list.Status.HighestModSeq)
	if m.count() != before {
		return w.WriteNumMessages(num32(m.count()))
	}
	return nil
}
