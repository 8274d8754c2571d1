package imap

import (
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// Append implements imapserver.Session (RFC 9051 §6.3.12, UIDPLUS
// APPENDUID RFC 4315). The library has already refused a literal larger
// than AppendLimit with NO [TOOBIG] before asking for its data. A message
// that would exceed the quota is refused with NO [OVERQUOTA] (RFC 9208
// §4.3) before it is read into memory.
func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (_ *imap.AppendData, err error) {
	ctx := s.begin()
	defer s.end("APPEND", &err)
	if name, err = folderName(name, false); err != nil {
		return nil, err
	}
	flags, err := parseFlags(options.Flags)
	if err != nil {
		return nil, err
	}
	size := r.Size()
	if size > s.srv.opts.MaxAppendBytes {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	quota := s.quota()
	if quota > 0 {
		usage, err := s.srv.opts.Store.Usage(ctx, s.account)
		if err != nil {
			return nil, err
		}
		if usage.Bytes+size > quota {
			return nil, errOverQuota
		}
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("reading APPEND literal: %w", err)
	}
	res, err := s.srv.opts.Store.Append(ctx, store.AppendRequest{
		Folder:       store.FolderRef{Account: s.account, Folder: name},
		Body:         body,
		Flags:        flags,
		InternalDate: options.Time,
		QuotaBytes:   quota,
	})
	if err != nil {
		return nil, tryCreate(err)
	}
	return &imap.AppendData{UID: imap.UID(res.UID), UIDValidity: res.UIDValidity}, nil
}

// Store implements imapserver.Session (RFC 9051 §6.4.6). Other sessions
// see the change as untagged FETCH FLAGS; this one gets them unless
// .SILENT.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) (err error) {
	ctx := s.begin()
	defer s.end("STORE", &err)
	defer s.batch(&err)()
	m := s.sel
	if m.readOnly {
		return errReadOnly
	}
	f, err := parseFlags(flags.Flags)
	if err != nil {
		return err
	}
	op := map[imap.StoreFlagsOp]store.FlagOp{
		imap.StoreFlagsAdd: store.FlagsAdd, imap.StoreFlagsDel: store.FlagsRemove, imap.StoreFlagsSet: store.FlagsReplace,
	}[flags.Op]
	targets := m.resolve(numSet)
	if len(targets) == 0 {
		return nil
	}
	res, err := s.srv.opts.Store.UpdateFlags(ctx, store.FlagUpdate{Folder: m.ref, UIDs: storeSet(targets), Op: op, Flags: f})
	if err != nil {
		return err
	}
	m.markOwn(res.ModSeq)
	if flags.Silent {
		return nil
	}
	_, isUID := numSet.(imap.UIDSet)
	for _, st := range res.Messages {
		i, ok := m.index(st.UID)
		if !ok {
			continue
		}
		rw := w.CreateMessage(num32(i + 1))
		if isUID {
			rw.WriteUID(imap.UID(st.UID))
		}
		rw.WriteFlags(flagList(st.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Copy implements imapserver.Session (RFC 9051 §6.4.7, COPYUID RFC 4315);
// the whole copy fails with NO [OVERQUOTA] if it would exceed the quota.
func (s *session) Copy(numSet imap.NumSet, dest string) (_ *imap.CopyData, err error) {
	ctx := s.begin()
	defer s.end("COPY", &err)
	if dest, err = folderName(dest, false); err != nil {
		return nil, err
	}
	targets := s.sel.resolve(numSet)
	if len(targets) == 0 {
		return nil, s.checkDest(dest)
	}
	res, err := s.srv.opts.Store.Copy(ctx, store.CopyRequest{
		Account: s.account, From: s.sel.ref.Folder, To: dest, UIDs: storeSet(targets), QuotaBytes: s.quota(),
	})
	if err != nil {
		return nil, tryCreate(err)
	}
	return copyData(res), nil
}

// Move implements imapserver.SessionMove (RFC 6851). A move within an
// account does not change its usage, so it is never over quota.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	ctx := s.begin()
	defer s.end("MOVE", &err)
	defer s.batch(&err)()
	m := s.sel
	if m.readOnly {
		return errReadOnly
	}
	if dest, err = folderName(dest, false); err != nil {
		return err
	}
	targets := m.resolve(numSet)
	if len(targets) == 0 {
		return s.checkDest(dest)
	}
	res, err := s.srv.opts.Store.Move(ctx, store.CopyRequest{
		Account: s.account, From: m.ref.Folder, To: dest, UIDs: storeSet(targets),
	})
	if err != nil {
		return tryCreate(err)
	}
	if data := copyData(res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	// RFC 6851 §4.3: the moved messages are expunged from the view.
	return m.remove(res.SourceUIDs, w.WriteExpunge)
}

// checkDest answers a COPY or MOVE of no message: OK if the destination
// exists, NO [TRYCREATE] otherwise.
func (s *session) checkDest(dest string) error {
	ctx, cancel := s.storeCtx()
	defer cancel()
	_, err := s.srv.opts.Store.FolderStatus(ctx, store.FolderRef{Account: s.account, Folder: dest})
	return tryCreate(err)
}

func copyData(res store.CopyResult) *imap.CopyData {
	if len(res.SourceUIDs) == 0 {
		return nil
	}
	data := &imap.CopyData{UIDValidity: res.DestUIDValidity}
	for i := range res.SourceUIDs {
		data.SourceUIDs.AddNum(imap.UID(res.SourceUIDs[i]))
		data.DestUIDs.AddNum(imap.UID(res.DestUIDs[i]))
	}
	return data
}

// Expunge implements imapserver.Session for EXPUNGE, UID EXPUNGE (RFC
// 9051 §6.4.3, §6.4.9) and CLOSE. The library calls it for CLOSE with a
// writer that writes nothing and the same nil uids as EXPUNGE, so in a
// folder opened with EXAMINE a plain EXPUNGE, like CLOSE (RFC 9051
// §6.4.2), removes nothing; UID EXPUNGE is refused there.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	ctx := s.begin()
	defer s.end("EXPUNGE", &err)
	defer s.batch(&err)()
	m := s.sel
	if m.readOnly {
		if uids != nil {
			return errReadOnly
		}
		return nil
	}
	targets := m.allTargets()
	if uids != nil {
		targets = m.resolve(*uids)
	}
	if len(targets) == 0 {
		return nil
	}
	res, err := s.srv.opts.Store.Expunge(ctx, store.ExpungeRequest{Folder: m.ref, UIDs: storeSet(targets), OnlyDeleted: true})
	if err != nil {
		return err
	}
	return m.remove(res.UIDs, w.WriteExpunge)
}
