// Command testsplit sorts the repository's tests into the Makefile's three
// test sets, so `make test-unit` runs on a machine without the Kubernetes
// binaries and `make test-unit test-envtest test-e2e` still runs every test:
//
//   - e2e: the packages matching -e2e (./test/e2e/..., which runs `kubemail dev`);
//   - envtest: the tests that need kube-apiserver, etcd or kubectl;
//   - unit: every other test.
//
// A test needs the binaries when its function, or a declaration of the
// package's _test.go files it reaches (a helper, a method, a variable), uses
// internal/devenv, controllers/internal/testenv or controller-runtime's
// envtest, or names "KUBEBUILDER_ASSETS" or "kubectl". A TestMain, an init or a
// variable initializer that does so puts the whole package in envtest. The
// package's non-test code is not followed: a test that starts a control
// plane through it would fail in `make test-unit`, loudly, not be dropped.
//
// `testsplit plan` prints one line per package and set:
//
//	<unit|envtest|e2e> <./dir> [-run|-skip <regexp>]
//
// A package split between unit and envtest gets `-skip R` in unit and
// `-run R` in envtest with the same R. hack/test.sh runs a set from the plan;
// hack/check-test-split.sh checks the plan covers every package with tests.
//
// `testsplit fuzz` prints `<./dir> <FuzzName>` for every fuzz target.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// heavyImports are the packages whose use needs the Kubernetes binaries.
var heavyImports = map[string]bool{
	"github.com/kubemail/kubemail/internal/devenv":              true,
	"github.com/kubemail/kubemail/controllers/internal/testenv": true,
	"sigs.k8s.io/controller-runtime/pkg/envtest":                true,
}

// heavyStrings are string literals that mean a test looks for the binaries.
var heavyStrings = map[string]bool{
	"KUBEBUILDER_ASSETS": true,
	"kubectl":            true,
}

// pkg is the part of `go list -json` testsplit reads.
type pkg struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
}

func main() {
	e2e := flag.String("e2e", "./test/e2e/...", "space-separated package patterns of the e2e set")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testsplit [-e2e patterns] plan|fuzz")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || (flag.Arg(0) != "plan" && flag.Arg(0) != "fuzz") {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), strings.Fields(*e2e), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsplit:", err)
		os.Exit(1)
	}
}

func run(mode string, e2ePatterns []string, out io.Writer) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	pkgs, err := goList([]string{"./..."})
	if err != nil {
		return err
	}
	e2e := map[string]bool{}
	if len(e2ePatterns) > 0 {
		e2ePkgs, err := goList(e2ePatterns)
		if err != nil {
			return err
		}
		for _, p := range e2ePkgs {
			e2e[p.ImportPath] = true
		}
	}
	for _, p := range pkgs {
		if len(p.TestGoFiles)+len(p.XTestGoFiles) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			return err
		}
		dir := "./" + filepath.ToSlash(rel)
		if rel == "." {
			dir = "."
		}
		tests, err := analyze(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.ImportPath, err)
		}
		if mode == "fuzz" {
			for _, t := range tests.names {
				if strings.HasPrefix(t, "Fuzz") {
					fmt.Fprintln(out, dir, t)
				}
			}
			continue
		}
		switch {
		case e2e[p.ImportPath]:
			fmt.Fprintln(out, "e2e", dir)
		case tests.wholePackage || (len(tests.names) > 0 && len(tests.heavy) == len(tests.names)):
			fmt.Fprintln(out, "envtest", dir)
		case len(tests.heavy) == 0:
			fmt.Fprintln(out, "unit", dir)
		default:
			re := "^(" + strings.Join(tests.heavy, "|") + ")$"
			fmt.Fprintln(out, "unit", dir, "-skip", re)
			fmt.Fprintln(out, "envtest", dir, "-run", re)
		}
	}
	return nil
}

// goList lists the packages matching patterns.
func goList(patterns []string) ([]pkg, error) {
	args := append([]string{"list", "-e", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles"}, patterns...)
	cmd := exec.CommandContext(context.Background(), "go", args...)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(data)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go list: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// tests is what analyze finds in one package's test files.
type tests struct {
	names        []string // the Test, Fuzz and Example functions, sorted
	heavy        []string // those of names that need the binaries, sorted
	wholePackage bool     // TestMain, an init or a variable initializer needs them
}

// decl is one top-level declaration of a test file.
type decl struct {
	heavy bool            // it needs the binaries, itself or through refs
	refs  map[string]bool // identifiers the declaration mentions
}

// fileInfo holds the names under which a file imports a heavy package.
type fileInfo struct {
	heavyNames map[string]bool
	dotHeavy   bool
}

// analyze parses p's test files and decides which tests need the binaries.
func analyze(p pkg) (tests, error) {
	fset := token.NewFileSet()
	byName := map[string][]*decl{} // functions, methods (by method name), types, vars, consts
	var all []*decl
	var rootDecls []*decl // TestMain, init and initialized variables
	testDecls := map[string]*decl{}
	add := func(name string, d *decl) {
		if name != "_" {
			byName[name] = append(byName[name], d)
		}
	}
	for _, name := range append(append([]string{}, p.TestGoFiles...), p.XTestGoFiles...) {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return tests{}, err
		}
		fi := &fileInfo{heavyNames: map[string]bool{}}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil || !heavyImports[path] {
				continue
			}
			switch {
			case imp.Name == nil:
				fi.heavyNames[path[strings.LastIndex(path, "/")+1:]] = true
			case imp.Name.Name == ".":
				fi.dotHeavy = true
			default:
				fi.heavyNames[imp.Name.Name] = true
			}
		}
		for _, n := range f.Decls {
			switch n := n.(type) {
			case *ast.FuncDecl:
				d := newDecl(n, fi)
				all = append(all, d)
				add(n.Name.Name, d)
				if n.Recv == nil {
					switch {
					case n.Name.Name == "TestMain" || n.Name.Name == "init":
						rootDecls = append(rootDecls, d)
					case isTest(n.Name.Name):
						testDecls[n.Name.Name] = d
					}
				}
			case *ast.GenDecl:
				for _, s := range n.Specs {
					d := newDecl(s, fi)
					all = append(all, d)
					switch s := s.(type) {
					case *ast.TypeSpec:
						add(s.Name.Name, d)
					case *ast.ValueSpec:
						for _, id := range s.Names {
							add(id.Name, d)
						}
						if len(s.Values) > 0 {
							// Initializers run before any test, like TestMain
							// (the values alone: a heavy type is not a call).
							// Following every reference, not only calls, errs
							// towards envtest. The literal just groups them.
							rootDecls = append(rootDecls, newDecl(&ast.CompositeLit{Elts: s.Values}, fi))
						}
					}
				}
			}
		}
	}
	// Propagate: a declaration that mentions a heavy one is heavy.
	for changed := true; changed; {
		changed = false
		for _, d := range append(all, rootDecls...) {
			if d.heavy {
				continue
			}
			for name := range d.refs {
				if anyHeavy(byName[name]) {
					d.heavy, changed = true, true
					break
				}
			}
		}
	}
	var t tests
	for _, d := range rootDecls {
		t.wholePackage = t.wholePackage || d.heavy
	}
	for name, d := range testDecls {
		t.names = append(t.names, name)
		if d.heavy {
			t.heavy = append(t.heavy, name)
		}
	}
	sort.Strings(t.names)
	sort.Strings(t.heavy)
	return t, nil
}

func newDecl(n ast.Node, fi *fileInfo) *decl {
	return &decl{heavy: hasHeavy(n, fi), refs: refsOf(n)}
}

func anyHeavy(ds []*decl) bool {
	for _, d := range ds {
		if d.heavy {
			return true
		}
	}
	return false
}

// hasHeavy reports whether n uses a heavy import or names a heavy string.
func hasHeavy(n ast.Node, fi *fileInfo) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if found {
			return false
		}
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && fi.heavyNames[id.Name] {
				found = true
			}
		case *ast.Ident:
			// Any identifier may come from a dot-imported heavy package.
			found = fi.dotHeavy
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				if s, err := strconv.Unquote(n.Value); err == nil && heavyStrings[s] {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// refsOf collects every identifier n mentions, selector names included (a
// method call x.m() matches every method m of the test files).
func refsOf(n ast.Node) map[string]bool {
	refs := map[string]bool{}
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			refs[id.Name] = true
		}
		return true
	})
	return refs
}

var testPrefix = regexp.MustCompile(`^(Test|Fuzz|Example)`)

// isTest reports whether a function name is one go test runs: Test, Fuzz or
// Example followed by nothing or by a character that is not a lower-case letter.
func isTest(name string) bool {
	m := testPrefix.FindString(name)
	if m == "" {
		return false
	}
	if len(name) == len(m) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(name[len(m):])
	return !unicode.IsLower(r)
}
