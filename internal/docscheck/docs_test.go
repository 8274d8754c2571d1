package docscheck

import (
	"bytes"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// mapHeading starts HACKING.md's package map, which runs to the next
// heading of the same or a higher level.
const mapHeading = "## Package map"

// markdownDirs are where the documentation this package checks lives:
// the repository root (its own Markdown files only) and docs/ (all of it).
var markdownDirs = []struct {
	dir       string
	recursive bool
}{
	{".", false},
	{"docs", true},
}

// TestHackingMapNamesEveryPackage fails for every package `go list ./...`
// shows whose path inside the module HACKING.md's package map does not
// mention.
func TestHackingMapNamesEveryPackage(t *testing.T) {
	root := repoRoot(t)
	pkgs := modulePackages(t, root)
	m := packageMap(t, root)
	for _, pkg := range pkgs {
		t.Run(pkg, func(t *testing.T) {
			if !mentions(m, pkg) {
				t.Errorf("HACKING.md's package map (section %q) does not mention package %s: give it a line", mapHeading, pkg)
			}
		})
	}
}

// TestHackingMapNamesOnlyExistingPaths fails for every repository path the
// package map names (as `code`) that does not exist, such as a package
// that was moved or removed.
func TestHackingMapNamesOnlyExistingPaths(t *testing.T) {
	root := repoRoot(t)
	named := mapPaths(packageMap(t, root), topLevelDirs(t, root))
	if len(named) == 0 {
		t.Fatalf("HACKING.md's package map names no path as `code`")
	}
	for _, p := range named {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Errorf("HACKING.md's package map names %s, which does not exist", p)
		}
	}
}

// TestMarkdownStaysInsideTheRepository fails when a Markdown file at the
// root or under docs/ names a path outside the repository (../…), or
// links to a file of the repository that does not exist.
func TestMarkdownStaysInsideTheRepository(t *testing.T) {
	root := repoRoot(t)
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		return err == nil
	}
	for _, rel := range markdownFiles(t, root) {
		t.Run(rel, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pathProblems(rel, string(text), exists) {
				t.Errorf("%s:%s", rel, p)
			}
		})
	}
}

func TestMentions(t *testing.T) {
	for name, c := range map[string]struct {
		text, path string
		want       bool
	}{
		"a path in code":                        {"- `mailserver/delivery` the Intake", "mailserver/delivery", true},
		"a path with a trailing slash":          {"mailserver/store/ the interfaces", "mailserver/store", true},
		"a path ending a sentence":              {"see mailserver/store.", "mailserver/store", true},
		"a path with ./":                        {"go test ./mailserver/smtp", "mailserver/smtp", true},
		"a path at the end of the text":         {"mailserver/smtp", "mailserver/smtp", true},
		"a later occurrence counts":             {"mailserver/smtpclient, mailserver/smtp", "mailserver/smtp", true},
		"only a longer package":                 {"`mailserver/smtpclient`", "mailserver/smtp", false},
		"only a subpackage":                     {"`mailserver/store/sqlite`", "mailserver/store", false},
		"only a wildcard":                       {"`mailserver/store/...`", "mailserver/store", false},
		"only a file":                           {"mailserver/store.go", "mailserver/store", false},
		"only the tail of a longer path":        {"controllers/internal/devenv", "internal/devenv", false},
		"not at all":                            {"the store", "mailserver/store", false},
		"a word glued before":                   {"xmailserver/store", "mailserver/store", false},
		"a path in parentheses":                 {"(internal/netserve)", "internal/netserve", true},
		"a path in a table cell":                {"| internal/netserve | IPOf |", "internal/netserve", true},
		"a directory slash then a sentence end": {"under internal/netserve/.", "internal/netserve", true},
	} {
		t.Run(name, func(t *testing.T) {
			if got := mentions(c.text, c.path); got != c.want {
				t.Errorf("mentions(%q, %q) = %v, want %v", c.text, c.path, got, c.want)
			}
		})
	}
}

func TestSection(t *testing.T) {
	doc := "# Title\n\nintro\n\n## Package map\n\n- `a/b`\n\n```sh\n# a comment, not a heading\n```\n\n### Sub\n\n- `c/d`\n\n## Rules\n\n- `e/f`\n"
	got, ok := section(doc, mapHeading)
	if !ok {
		t.Fatalf("section %q not found", mapHeading)
	}
	for _, want := range []string{"`a/b`", "# a comment", "### Sub", "`c/d`"} {
		if !strings.Contains(got, want) {
			t.Errorf("the section lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "`e/f`") || strings.Contains(got, "## Rules") {
		t.Errorf("the section runs past the next heading:\n%s", got)
	}
	if _, ok := section("# Title\n\n## Other\n", mapHeading); ok {
		t.Errorf("found a section that is not there")
	}
}

func TestMapPaths(t *testing.T) {
	top := map[string]bool{"mailserver": true, "cmd": true, "hack": true}
	m := "- `mailserver/delivery` — `delivery.Intake`, see `mailserver/queue/doc.go`\n" +
		"- `cmd/kubemail/` built by `go build ./cmd/kubemail`; `github.com/emersion/go-smtp`; `hack/...`\n"
	got := mapPaths(m, top)
	want := []string{"cmd/kubemail", "mailserver/delivery", "mailserver/queue/doc.go"}
	if !slices.Equal(got, want) {
		t.Errorf("mapPaths = %q, want %q", got, want)
	}
}

func TestPathProblems(t *testing.T) {
	existing := map[string]bool{"HACKING.md": true, "docs": true, "docs/storage.md": true, "mailserver/queue/doc.go": true}
	exists := func(rel string) bool { return existing[rel] }
	for name, c := range map[string]struct {
		file, text string
		want       []string // a substring of each problem, in order
	}{
		"a parent path from the root":       {"HACKING.md", "Read `../shared/DESIGN.md` first.", []string{"1: names ../shared/DESIGN.md, outside the repository"}},
		"a parent directory from the root":  {"README.md", "x\nthe parent, ../.", []string{"2: names ../, outside the repository"}},
		"a link up and out of docs":         {"docs/a.md", "[d](../../shared/DESIGN.md)", []string{"outside the repository"}},
		"a link from docs to the root":      {"docs/a.md", "[h](../HACKING.md) and [s](storage.md#durability)", nil},
		"a link from docs to a missing one": {"docs/a.md", "[x](../NOPE.md)", []string{"NOPE.md, which does not exist"}},
		"a missing relative link":           {"README.md", "[x](docs/nope.md)", []string{"links to docs/nope.md, which does not exist"}},
		"a reference definition":            {"README.md", "[x]: ../elsewhere/y.md\n", []string{"outside the repository"}},
		"an absolute file path":             {"README.md", "see /home/me/../x", []string{"outside the repository"}},
		"a root-relative link":              {"docs/a.md", "[q](/mailserver/queue/doc.go)", nil},
		"URLs and anchors are not paths":    {"README.md", "[u](https://example.com/a/../b) [a](#tests) [m](mailto:x@example.com)", nil},
		"cd .. names no path":               {"README.md", "cd .. && make", nil},
		"a link to an existing directory":   {"README.md", "[d](docs/)", nil},
		"a link inside the repository":      {"README.md", "[q](mailserver/queue/doc.go)", nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := pathProblems(c.file, c.text, exists)
			if len(got) != len(c.want) {
				t.Fatalf("got %d problems %q, want %d like %q", len(got), got, len(c.want), c.want)
			}
			for i := range got {
				if !strings.Contains(got[i], c.want[i]) {
					t.Errorf("problem %d is %q, want it to contain %q", i, got[i], c.want[i])
				}
			}
		})
	}
}

// repoRoot returns the directory holding go.mod, walking up from the
// package's directory (where go test runs a test).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod in %s or any directory above it", wd)
		}
		dir = parent
	}
}

// goTool returns the go command: the one on PATH (go test puts the GOROOT
// it runs from first), else that of $GOROOT or of the GOROOT the test was
// built with.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	var tried []string
	for _, goroot := range []string{os.Getenv("GOROOT"), build.Default.GOROOT} {
		if goroot == "" {
			continue
		}
		p := filepath.Join(goroot, "bin", "go")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		tried = append(tried, p)
	}
	t.Fatalf("no go command on PATH, nor at %q", tried)
	return ""
}

// goList runs go list with args in dir and returns its output's fields.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), goTool(t), append([]string{"list"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.Fields(string(out))
}

// modulePackages returns the path inside the module of every package
// `go list ./...` shows at root, packages with errors included.
func modulePackages(t *testing.T, root string) []string {
	t.Helper()
	mods := goList(t, root, "-m")
	if len(mods) != 1 {
		t.Fatalf("go list -m in %s printed %q, want one module", root, mods)
	}
	module := mods[0]
	var pkgs []string
	for _, p := range goList(t, root, "-e", "-f", "{{.ImportPath}}", "./...") {
		rel, ok := strings.CutPrefix(p, module+"/")
		if !ok {
			t.Fatalf("go list ./... printed %s, which is not a package inside module %s", p, module)
		}
		pkgs = append(pkgs, rel)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list ./... in %s shows no package", root)
	}
	return pkgs
}

// packageMap returns the package map section of HACKING.md.
func packageMap(t *testing.T, root string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, "HACKING.md"))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := section(string(text), mapHeading)
	if !ok {
		t.Fatalf("HACKING.md has no line %q: the package map starts there", mapHeading)
	}
	if strings.TrimSpace(m) == "" {
		t.Fatalf("HACKING.md's section %q is empty", mapHeading)
	}
	return m
}

// section returns the text under the heading line (such as "## Package
// map") up to the next heading of the same or a higher level; lines in
// fenced code blocks are never headings.
func section(text, heading string) (string, bool) {
	level := headingLevel(heading)
	lines := strings.SplitAfter(text, "\n")
	fenced := false
	for i, l := range lines {
		if isFence(l) {
			fenced = !fenced
		}
		if fenced || strings.TrimSpace(l) != heading {
			continue
		}
		var b strings.Builder
		fenced = false
		for _, l := range lines[i+1:] {
			if isFence(l) {
				fenced = !fenced
			}
			if n := headingLevel(l); !fenced && n > 0 && n <= level {
				break
			}
			b.WriteString(l)
		}
		return b.String(), true
	}
	return "", false
}

// headingLevel is the level of an ATX heading line ("## x" is 2), or 0.
func headingLevel(line string) int {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || n > 6 || n == len(line) || (line[n] != ' ' && line[n] != '\t' && line[n] != '\n') {
		return 0
	}
	return n
}

func isFence(line string) bool {
	l := strings.TrimSpace(line)
	return strings.HasPrefix(l, "```") || strings.HasPrefix(l, "~~~")
}

// isWordByte reports whether c can be part of a path element's name.
func isWordByte(c byte) bool {
	return c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// mentions reports whether text names the package directory path as a
// whole: not as part of a longer path (mailserver/smtp in
// mailserver/smtpclient, mailserver/store in mailserver/store/sqlite or
// mailserver/store/..., internal/devenv in x/internal/devenv), nor as a
// file name. A leading "./", a trailing "/" and a full stop after it are
// allowed.
func mentions(text, path string) bool {
	for from := 0; ; {
		i := strings.Index(text[from:], path)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(path)
		if boundaryBefore(text, start) && boundaryAfter(text, end) {
			return true
		}
		from = start + 1
	}
}

func boundaryBefore(text string, start int) bool {
	if start >= 2 && text[start-2:start] == "./" {
		start -= 2
	}
	if start == 0 {
		return true
	}
	c := text[start-1]
	return !isWordByte(c) && c != '/' && c != '.'
}

func boundaryAfter(text string, end int) bool {
	if end < len(text) && text[end] == '/' {
		end++
	}
	if end == len(text) {
		return true
	}
	switch c := text[end]; {
	case isWordByte(c), c == '/':
		return false
	case c == '.':
		return end+1 == len(text) || !isWordByte(text[end+1]) && text[end+1] != '.' && text[end+1] != '/'
	}
	return true
}

// codeSpan matches `code` on one line.
var codeSpan = regexp.MustCompile("`([^`\n]+)`")

// repoPath matches what reads as a relative path with at least two
// elements: mailserver/delivery, cmd/kubemail/, ./hack/test.sh.
var repoPath = regexp.MustCompile(`^(?:\./)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+/?$`)

// mapPaths returns, sorted and without duplicates, the code spans of the
// package map that are paths starting with one of the repository's top-level
// directories (so not github.com/… nor delivery.Intake), without patterns
// (./...).
func mapPaths(m string, topLevel map[string]bool) []string {
	var paths []string
	for _, sm := range codeSpan.FindAllStringSubmatch(m, -1) {
		p := sm[1]
		if !repoPath.MatchString(p) || strings.Contains(p, "...") {
			continue
		}
		p = strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")
		if first, _, _ := strings.Cut(p, "/"); topLevel[first] {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

// topLevelDirs returns the names of the directories at the repository root.
func topLevelDirs(t *testing.T, root string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			dirs[e.Name()] = true
		}
	}
	return dirs
}

// markdownFiles returns, relative to root with slashes, the Markdown files
// of markdownDirs. Each directory must exist and hold at least one.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, d := range markdownDirs {
		dir := filepath.Join(root, d.dir)
		var found []string
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case e.IsDir() && p != dir && !d.recursive:
				return filepath.SkipDir
			case !e.IsDir() && strings.HasSuffix(e.Name(), ".md"):
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				found = append(found, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("listing the Markdown files of %s: %v", d.dir, err)
		}
		if len(found) == 0 {
			t.Fatalf("no Markdown file in %s", dir)
		}
		files = append(files, found...)
	}
	return files
}

// A Markdown link's target: [text](target "title") and [label]: target.
var (
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^()\s<>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`(?m)^ {0,3}\[[^\]\n]+\]:[ \t]*<?([^\s<>]+)>?`)
)

// isPathByte reports whether c can be part of a path written in prose.
func isPathByte(c byte) bool { return isWordByte(c) || c == '.' || c == '/' || c == '~' }

// pathProblems lists, as "LINE: what", every path the Markdown file (at rel
// inside the repository, with slashes) names with a parent step (../) that
// leads outside the repository or to nothing, and every relative link that
// does so; exists tells whether a path relative to the repository root
// exists.
func pathProblems(rel, text string, exists func(rel string) bool) []string {
	var problems []string
	seen := map[string]bool{}
	report := func(off int, format string, args ...any) {
		p := fmt.Sprintf("%d: ", 1+strings.Count(text[:off], "\n")) + fmt.Sprintf(format, args...)
		if !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	dir := filepath.Dir(filepath.FromSlash(rel))
	// resolve returns target's path relative to the root, and whether it
	// stays inside.
	resolve := func(target string) (string, bool) {
		var p string
		switch {
		case strings.HasPrefix(target, "~"):
			return target, false
		case strings.HasPrefix(target, "/"):
			p = filepath.Clean(filepath.FromSlash(target))
			if strings.Contains(target, "..") {
				return target, false // a file system path, not the repository's
			}
			p = strings.TrimPrefix(p, string(filepath.Separator)) // root-relative, as GitHub shows it
		default:
			p = filepath.Join(dir, filepath.FromSlash(target))
		}
		if p == ".." || strings.HasPrefix(p, ".."+string(filepath.Separator)) {
			return target, false
		}
		return filepath.ToSlash(p), true
	}

	// Every token containing ../, in prose, code or links.
	for from := 0; ; {
		i := strings.Index(text[from:], "../")
		if i < 0 {
			break
		}
		start, end := from+i, from+i+3
		for start > 0 && isPathByte(text[start-1]) {
			start--
		}
		for end < len(text) && isPathByte(text[end]) {
			end++
		}
		from = end
		if start > 0 && text[start-1] == ':' {
			continue // part of a URL
		}
		tok := text[start:end]
		if strings.HasSuffix(tok, ".") && !strings.HasSuffix(tok, "..") {
			tok = strings.TrimSuffix(tok, ".") // a full stop
		}
		p, inside := resolve(tok)
		switch {
		case !inside:
			report(start, "names %s, outside the repository: name only files inside it", tok)
		case !exists(p):
			report(start, "names %s, which does not exist (%s in the repository)", tok, p)
		}
	}

	// Every relative link.
	for _, re := range []*regexp.Regexp{inlineLink, refLink} {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[2]:m[3]]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") ||
				strings.Contains(target, "../") { // checked with the other ../ paths above
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			target, _, _ = strings.Cut(target, "?")
			if target == "" {
				continue
			}
			p, inside := resolve(target)
			switch {
			case !inside:
				report(m[2], "links to %s, outside the repository", target)
			case !exists(strings.TrimSuffix(p, "/")):
				report(m[2], "links to %s, which does not exist", target)
			}
		}
	}
	slices.SortStableFunc(problems, func(a, b string) int { return lineOf(a) - lineOf(b) })
	return problems
}

// lineOf returns the line number a problem starts with.
func lineOf(problem string) int {
	var n int
	_, _ = fmt.Sscanf(problem, "%d:", &n)
	return n
}
