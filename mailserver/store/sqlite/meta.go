package sqlite

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// A message row keeps its listing metadata in one BLOB column, meta, so a
// listing reads one column per row: with modernc.org/sqlite every column
// read is a locked C call, and a 10,000-message listing of seven columns
// costs over twice as much as one of meta alone. The uid, modseq, flags and
// size columns duplicate what SQL needs (keys, CHANGEDSINCE, the counter
// triggers); both are written only by insertMessage and updateFlags, from
// the same store.MessageMeta.
//
// Encoding (version 1): the byte 1, then uvarints UID, ModSeq, system
// flags, then varints size, Unix seconds and zone offset seconds of the
// internal date, then the keywords separated by spaces up to the end.
const metaVersion = 1

var errBadMeta = errors.New("corrupt message metadata")

func encodeMeta(m store.MessageMeta) []byte {
	b := make([]byte, 0, 32+len(m.Flags.Keywords)*8)
	b = append(b, metaVersion)
	b = binary.AppendUvarint(b, uint64(m.UID))
	b = binary.AppendUvarint(b, uint64(m.ModSeq))
	b = binary.AppendUvarint(b, uint64(m.Flags.System))
	b = binary.AppendVarint(b, m.Size)
	_, off := m.InternalDate.Zone()
	b = binary.AppendVarint(b, m.InternalDate.Unix())
	b = binary.AppendVarint(b, int64(off))
	for i, k := range m.Flags.Keywords {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, k...)
	}
	return b
}

func decodeMeta(b []byte, zones zoneCache) (store.MessageMeta, error) {
	var m store.MessageMeta
	if len(b) == 0 || b[0] != metaVersion {
		return m, errBadMeta
	}
	b = b[1:]
	var u [3]uint64
	for i := range u {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return m, errBadMeta
		}
		u[i], b = v, b[n:]
	}
	var s [3]int64
	for i := range s {
		v, n := binary.Varint(b)
		if n <= 0 {
			return m, errBadMeta
		}
		s[i], b = v, b[n:]
	}
	uid, flags := u[0], u[2]
	if uid > math.MaxUint32 {
		return m, errBadMeta
	}
	if flags > math.MaxUint8 {
		return m, errBadMeta
	}
	m.UID, m.ModSeq = store.UID(uid), store.ModSeq(u[1])
	m.Flags.System, m.Size = store.SystemFlags(flags), s[0]
	if m.Flags.System&^store.AllSystemFlags != 0 || m.Size < 0 {
		return m, errBadMeta
	}
	m.InternalDate = zones.decode(s[1], s[2])
	if len(b) > 0 {
		m.Flags.Keywords = strings.Split(string(b), " ")
	}
	return m, nil
}

// zoneCache avoids a FixedZone allocation per row when decoding listings.
type zoneCache map[int64]*time.Location

func (z zoneCache) decode(sec, offset int64) time.Time {
	if offset == 0 {
		return time.Unix(sec, 0).UTC()
	}
	loc, ok := z[offset]
	if !ok {
		loc = time.FixedZone("", int(offset))
		z[offset] = loc
	}
	return time.Unix(sec, 0).In(loc)
}
