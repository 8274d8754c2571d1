// Package docscheck holds no code, only the tests that keep the Markdown
// documentation in step with the repository:
//
//   - HACKING.md's package map (its "## Package map" section) names every
//     package `go list ./...` shows, by its path inside the module
//     (mailserver/delivery), and every path the map names exists;
//   - no Markdown file at the repository root or under docs/ names a path
//     outside the repository (a path climbing above its root), and every relative link in
//     them leads to a file or directory that exists.
//
// A new package therefore fails `make test-unit` until it has its line in
// the map.
package docscheck
