package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// flowListDoc returns a net.Port manifest whose spec.labels.items is a flow
// list of n plain words on one line, and the words.
func flowListDoc(n int) (string, []any) {
	var b strings.Builder
	b.WriteString("kind: net.Port\nmetadata: {name: p}\nspec:\n  labels:\n    items: [")
	words := make([]any, n)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		w := fmt.Sprintf("w%05d", i)
		words[i] = w
		b.WriteString(w)
	}
	b.WriteString("]\n")
	return b.String(), words
}

// flowListItems is how many items make a flow list line of about kb KB.
func flowListItems(kb int) int { return kb * 1024 / len("w00000, ") }

// TestLongFlowList checks a 480 KB flow list on one line is read by the
// fast parser, exactly as yaml.v3 reads it, into every item in order.
func TestLongFlowList(t *testing.T) {
	src, words := flowListDoc(flowListItems(480))
	if len(src) < 480*1024 {
		t.Fatalf("document is %d bytes; want at least 480 KB", len(src))
	}
	var p fastParser
	if !checkSame(t, &p, src) {
		t.Fatalf("fast parser fell back on a long flow list; want the fast path")
	}
	rv := mustLoad(t, map[string]string{"a.yaml": src})
	r, ok := rv.Get("net.Port/p")
	if !ok {
		t.Fatalf("no net.Port/p")
	}
	got, _ := r.Spec["labels"].(map[string]any)["items"].([]any)
	if len(got) != len(words) {
		t.Fatalf("got %d items; want %d", len(got), len(words))
	}
	for i := range words {
		if got[i] != words[i] {
			t.Fatalf("item %d = %v; want %v", i, got[i], words[i])
		}
	}
}

// BenchmarkFlowList loads a manifest holding one flow list line of growing
// length: the time per byte (MB/s) must stay flat, the parser being linear
// in the length of a line.
func BenchmarkFlowList(b *testing.B) {
	reg := testRegistry(b)
	for _, kb := range []int{60, 120, 480} {
		src, _ := flowListDoc(flowListItems(kb))
		in := map[string][]byte{"a.yaml": []byte(src)}
		b.Run(fmt.Sprintf("%dKB", kb), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := LoadBytes(in, reg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
