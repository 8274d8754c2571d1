//go:build !race

package config

// shardTestMailboxes is the number of mailboxes the sharding must carry.
const shardTestMailboxes = 50_000
