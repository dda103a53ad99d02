package kv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocQuotes: every Go block of docs/library.md is quoted from a file of
// this package (indentation aside), so that the code the guide shows is
// the code these tests compile and run.
func TestDocQuotes(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "library.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string][]string{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sources[name] = trimmed(string(b))
	}
	blocks := goBlocks(string(doc))
	if len(blocks) == 0 {
		t.Fatal("docs/library.md has no Go block")
	}
	for _, b := range blocks {
		if where := find(sources, trimmed(b.text)); where == "" {
			t.Errorf("docs/library.md:%d: the Go block is in no file of examples/custom-provider/kv; quote the source as it is", b.line)
		}
	}
}

type block struct {
	line int // of the opening fence
	text string
}

// goBlocks returns the contents of the ```go fences of a Markdown text.
func goBlocks(md string) []block {
	var out []block
	var cur *block
	var lines []string
	for i, l := range strings.Split(md, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```go":
			cur, lines = &block{line: i + 1}, nil
		case cur != nil && strings.TrimSpace(l) == "```":
			cur.text = strings.Join(lines, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			lines = append(lines, l)
		}
	}
	return out
}

// trimmed splits s into lines without their indentation.
func trimmed(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, "\t ")
	}
	return lines
}

// find returns the name of a source holding want as consecutive lines.
func find(sources map[string][]string, want []string) string {
	for name, src := range sources {
	next:
		for i := 0; i+len(want) <= len(src); i++ {
			for j, l := range want {
				if src[i+j] != l {
					continue next
				}
			}
			return name
		}
	}
	return ""
}
