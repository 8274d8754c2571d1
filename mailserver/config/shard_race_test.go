//go:build race

package config

// shardTestMailboxes is smaller under the race detector, which makes
// parsing 50,000 mailboxes take minutes; Split and Join share no state
// between goroutines, so the race detector has nothing to find there.
const shardTestMailboxes = 10_000
