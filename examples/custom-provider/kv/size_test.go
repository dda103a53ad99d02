package kv_test

import (
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxLines is the claim of the package doc and of docs/library.md: the
// whole provider takes under 60 lines of Go, not counting blank lines and
// comments.
const maxLines = 60

// TestProviderSize counts the lines of the provider's source files (every
// .go file of the package but its tests) that hold a Go token, so comment
// lines and blank lines do not count, and fails above maxLines.
func TestProviderSize(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		n, err := codeLines(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d lines of code", name, n)
		total += n
	}
	if total == 0 {
		t.Fatal("no source file found")
	}
	if total > maxLines {
		t.Errorf("the provider has %d lines of code, over the %d that its docs promise", total, maxLines)
	}
}

// codeLines returns how many lines of the Go file hold a token other than a
// comment.
func codeLines(name string) (int, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	fset := token.NewFileSet()
	f := fset.AddFile(name, -1, len(src))
	var s scanner.Scanner
	var scanErr error
	s.Init(f, src, func(pos token.Position, msg string) { scanErr = fmt.Errorf("%s: %s", pos, msg) }, 0) // comments are skipped
	lines := map[int]bool{}
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // inserted at the end of a line, which already counts
		}
		end := pos
		if len(lit) > 1 {
			end += token.Pos(len(lit) - 1) // a raw string counts every line it spans
		}
		for l := f.Line(pos); l <= f.Line(end); l++ {
			lines[l] = true
		}
	}
	return len(lines), scanErr
}
