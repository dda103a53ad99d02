package graph

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// renderGraph has a cycle, statuses, a node without status, and IDs with
// characters both formats reserve.
func renderGraph() (*Graph, RenderOptions) {
	g := New()
	g.AddEdge("file.File/index.html", "file.Directory/www", "reference in spec.path at site.yaml:12")
	g.AddEdge("process.Service/web", "file.File/index.html", "dependsOn at site.yaml:20")
	g.AddEdge("cloud.Instance/a", "cloud.Subnet/b", "dependsOn at net.yaml:3")
	g.AddEdge("cloud.Subnet/b", "cloud.Instance/a", "reference in spec.note at net.yaml:14")
	g.AddNode(`http.Resource/say-"hi"#<1>`)
	return g, RenderOptions{Status: map[string]string{
		"file.Directory/www":   "Ready",
		"file.File/index.html": "Failed",
		"process.Service/web":  "Waiting",
		"cloud.Subnet/b":       "Some Custom",
	}}
}

func TestWriteDot(t *testing.T) {
	g, o := renderGraph()
	var buf bytes.Buffer
	if err := g.WriteDot(&buf, o); err != nil {
		t.Fatalf("WriteDot() error = %v", err)
	}
	golden(t, "render.dot", buf.Bytes())
}

func TestWriteMermaid(t *testing.T) {
	g, o := renderGraph()
	var buf bytes.Buffer
	if err := g.WriteMermaid(&buf, o); err != nil {
		t.Fatalf("WriteMermaid() error = %v", err)
	}
	golden(t, "render.mmd", buf.Bytes())
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestRenderWriteError(t *testing.T) {
	g, o := renderGraph()
	if err := g.WriteDot(failWriter{}, o); err == nil {
		t.Errorf("WriteDot() to a failing writer: nil error; want one")
	}
	if err := g.WriteMermaid(failWriter{}, o); err == nil {
		t.Errorf("WriteMermaid() to a failing writer: nil error; want one")
	}
}

func TestDotQuote(t *testing.T) {
	tests := map[string]string{
		"plain":         `"plain"`,
		`a"b`:           `"a\"b"`,
		`back\slash`:    `"back\\slash"`,
		"two\nlines":    `"two\nlines"`,
		"file.File/a.b": `"file.File/a.b"`,
	}
	for in, want := range tests {
		if got := dotQuote(in); got != want {
			t.Errorf("dotQuote(%q) = %s; want %s", in, got, want)
		}
	}
}
