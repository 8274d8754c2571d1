package config

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Sharding carries a configuration in Kubernetes Secrets, whose data may
// not exceed 1 MiB each, so that 50,000 mailboxes (about 10 MiB of YAML)
// still fit. The operator calls [Split] and writes one Secret per [Shard];
// the server reads shard 0, learns from its [ShardIndex] which Secrets make
// up the document, reads them and calls [Join].
//
// The document is the configuration's JSON encoding (which [Parse] reads
// like YAML, and which encodes 50,000 mailboxes ten times faster than
// [Config.YAML]) compressed with gzip
// and cut into pieces of at most maxBytes. Every shard carries the content
// hash ([Config.Hash]) under [ShardHashKey], and shard 0 also the index
// under [ShardIndexKey]. Join refuses shards of different versions, so a
// reader that catches the writer half-way (some shards new, some old) keeps
// its current configuration and tries again on the next change. Writers
// write shards 1…n-1 first and shard 0 last.
//
// Shard data keys:
//
//	index.json    shard 0 only: {"hash", "encoding", "size", "digest", "shards": [names]}
//	hash          every shard: the configuration's content hash
//	config.part   every shard: its piece of the encoded document

// Keys of a shard's data.
const (
	ShardIndexKey = "index.json"
	ShardHashKey  = "hash"
	ShardPartKey  = "config.part"
)

// ShardEncoding is the only encoding of a sharded document: gzip-compressed JSON.
const ShardEncoding = "json+gzip"

// DefaultShardBytes is the largest piece of the document one shard holds,
// leaving room under Kubernetes' 1 MiB for the index, hash and metadata.
const DefaultShardBytes = 900 << 10

// ShardIndex is the table of contents kept in shard 0.
type ShardIndex struct {
	// Hash is the configuration's content hash ([Config.Hash]).
	Hash string `json:"hash"`
	// Encoding is ShardEncoding.
	Encoding string `json:"encoding"`
	// Size is the length of the encoded document, all pieces together.
	Size int `json:"size"`
	// Digest is the hex SHA-256 of the encoded document.
	Digest string `json:"digest"`
	// Shards names the shards in order, shard 0 first.
	Shards []string `json:"shards"`
}

// Shard is one piece of a split configuration: the name and the data of
// one Secret.
type Shard struct {
	// Name is ShardName(prefix, i) for the i-th shard.
	Name string
	// Data is the Secret's data.
	Data map[string][]byte
}

// ShardName returns the name of the i-th shard: prefix-i.
func ShardName(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// Split encodes c and cuts it into shards named ShardName(prefix, 0…n-1),
// each holding at most maxBytes of the document (DefaultShardBytes when
// maxBytes ≤ 0). The result depends only on c's content.
func Split(c *Config, prefix string, maxBytes int) ([]Shard, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultShardBytes
	}
	c.mustBeCompiled()
	doc := c.canonical
	if doc == nil {
		var err error
		if doc, err = json.Marshal(c); err != nil {
			return nil, fmt.Errorf("encoding configuration: %w", err)
		}
	}
	var buf bytes.Buffer
	// The mailboxes' password hashes, random by design, are most of the
	// bytes: the best compression saves 3% over the fastest and takes
	// three times as long (10,000 mailboxes: 665 against 686 KB, 66
	// against 24 ms).
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("compressing configuration: %w", err)
	}
	if _, err := zw.Write(doc); err != nil {
		return nil, fmt.Errorf("compressing configuration: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing configuration: %w", err)
	}
	enc := buf.Bytes()
	sum := sha256.Sum256(enc)
	n := max(1, (len(enc)+maxBytes-1)/maxBytes)
	idx := ShardIndex{Hash: c.Hash(), Encoding: ShardEncoding, Size: len(enc), Digest: hex.EncodeToString(sum[:])}
	shards := make([]Shard, n)
	for i := range shards {
		end := min(len(enc), (i+1)*maxBytes)
		shards[i] = Shard{Name: ShardName(prefix, i), Data: map[string][]byte{
			ShardHashKey: []byte(idx.Hash),
			ShardPartKey: enc[i*maxBytes : end],
		}}
		idx.Shards = append(idx.Shards, shards[i].Name)
	}
	index, err := json.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("encoding shard index: %w", err)
	}
	shards[0].Data[ShardIndexKey] = index
	return shards, nil
}

// ErrShardMismatch means the shards given to [Join] are not one version of
// one configuration: read them again after the writer has finished.
var ErrShardMismatch = errors.New("configuration shards do not match")

// ReadShardIndex decodes the index of shard 0's data.
func ReadShardIndex(shard0 map[string][]byte) (ShardIndex, error) {
	var idx ShardIndex
	raw, ok := shard0[ShardIndexKey]
	if !ok {
		return idx, fmt.Errorf("reading shard index: no %s key", ShardIndexKey)
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return idx, fmt.Errorf("reading shard index: %w", err)
	}
	switch {
	case idx.Encoding != ShardEncoding:
		return idx, fmt.Errorf("reading shard index: encoding %q is not %q", idx.Encoding, ShardEncoding)
	case len(idx.Shards) == 0:
		return idx, errors.New("reading shard index: no shards listed")
	case idx.Size < 0 || idx.Size > MaxDocumentBytes:
		return idx, fmt.Errorf("reading shard index: size %d out of range", idx.Size)
	}
	return idx, nil
}

// Join reassembles, verifies and parses a configuration from the data of
// its shards, shard 0 first, in the order its index lists them. Shards of
// different versions give an error wrapping [ErrShardMismatch].
func Join(shards []map[string][]byte) (*Config, error) {
	if len(shards) == 0 {
		return nil, errors.New("joining configuration shards: none given")
	}
	idx, err := ReadShardIndex(shards[0])
	if err != nil {
		return nil, err
	}
	if len(shards) != len(idx.Shards) {
		return nil, fmt.Errorf("%w: the index lists %d shards, %d given", ErrShardMismatch, len(idx.Shards), len(shards))
	}
	enc := make([]byte, 0, idx.Size)
	for i, s := range shards {
		if h := string(s[ShardHashKey]); h != idx.Hash {
			return nil, fmt.Errorf("%w: shard %s holds version %.12s, the index %.12s", ErrShardMismatch, idx.Shards[i], h, idx.Hash)
		}
		enc = append(enc, s[ShardPartKey]...)
		if len(enc) > idx.Size {
			return nil, fmt.Errorf("%w: longer than the %d bytes of the index", ErrShardMismatch, idx.Size)
		}
	}
	if sum := sha256.Sum256(enc); len(enc) != idx.Size || hex.EncodeToString(sum[:]) != idx.Digest {
		return nil, fmt.Errorf("%w: the pieces do not add up to the document of the index", ErrShardMismatch)
	}
	zr, err := gzip.NewReader(bytes.NewReader(enc))
	if err != nil {
		return nil, fmt.Errorf("decompressing configuration: %w", err)
	}
	doc, err := io.ReadAll(io.LimitReader(zr, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing configuration: %w", err)
	}
	c, err := served(parseJSON(doc)) // the digest vouches that Split encoded it
	if err != nil {
		return nil, err
	}
	if c.Hash() != idx.Hash {
		return nil, fmt.Errorf("%w: the document's hash %.12s is not the index's %.12s", ErrShardMismatch, c.Hash(), idx.Hash)
	}
	return c, nil
}
