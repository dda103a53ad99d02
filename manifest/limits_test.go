package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// setLimit sets *v to n for the test.
func setLimit(t *testing.T, v *int64, n int64) {
	t.Helper()
	old := *v
	*v = n
	t.Cleanup(func() { *v = old })
}

// errorStrings returns err's errors as text, with dir/ taken out.
func errorStrings(t *testing.T, err error, dir string) []string {
	t.Helper()
	list, ok := err.(ErrorList)
	if !ok {
		t.Fatalf("error = %T %v; want an ErrorList", err, err)
	}
	var out []string
	for _, e := range list {
		s := e.Error()
		if dir != "" {
			s = strings.ReplaceAll(s, dir+string(filepath.Separator), "")
		}
		out = append(out, s)
	}
	return out
}

func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(dirDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sparse file one byte over the default limit: nothing is read.
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load([]string{dir}, testRegistry(t))
	want := []string{"big.yaml: is larger than 64 MiB, the limit for one manifest file"}
	if diff := cmp.Diff(want, errorStrings(t, err, dir)); diff != "" {
		t.Errorf("Load() errors mismatch (-want +got):\n%s", diff)
	}

	setLimit(t, &MaxFileBytes, int64(len(dirDoc)-1))
	_, err = LoadBytes(map[string][]byte{"a.yaml": []byte(dirDoc)}, testRegistry(t))
	want = []string{"a.yaml: is larger than 61 bytes, the limit for one manifest file"}
	if diff := cmp.Diff(want, errorStrings(t, err, dir)); diff != "" {
		t.Errorf("LoadBytes() errors mismatch (-want +got):\n%s", diff)
	}
}

func TestTotalSizeLimit(t *testing.T) {
	files := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		files[name+".yaml"] = "kind: file.Directory\nmetadata: {name: " + name + "}\nspec: {path: /x}\n"
	}
	size := int64(len(files["a.yaml"]))
	setLimit(t, &MaxTotalBytes, 2*size+1)
	want := []string{"c.yaml: the manifests up to this file are larger than 117 bytes, the limit for all of them"}

	dir := t.TempDir()
	in := map[string][]byte{}
	for name, content := range files {
		in[name] = []byte(content)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load([]string{dir}, testRegistry(t))
	if diff := cmp.Diff(want, errorStrings(t, err, dir)); diff != "" {
		t.Errorf("Load() errors mismatch (-want +got):\n%s", diff)
	}
	_, err = LoadBytes(in, testRegistry(t))
	if diff := cmp.Diff(want, errorStrings(t, err, dir)); diff != "" {
		t.Errorf("LoadBytes() errors mismatch (-want +got):\n%s", diff)
	}
	// Within the limit, all is read.
	setLimit(t, &MaxTotalBytes, 4*size)
	if rv, err := LoadBytes(in, testRegistry(t)); err != nil || len(rv.Resources) != 4 {
		t.Errorf("LoadBytes() at the limit = %v, %v; want 4 resources", rv, err)
	}
}

// aliasBomb returns a manifest of size bytes or so that holds a string of
// n bytes and uses it count times through an alias.
func aliasBomb(name string, n, count int) string {
	return "kind: net.Port\nmetadata: {name: " + name + "}\nspec:\n  labels:\n    big: &s " + strings.Repeat("x", n) + "\n" +
		"    copies: [" + strings.Repeat("*s, ", count-1) + "*s]\n"
}

// TestAliasBytesLimit loads a 1 MB file whose 20,000 aliases of a 1 MiB
// string would expand to 20 GiB: the load fails at the alias that passes
// 64 MiB, having allocated a few megabytes.
func TestAliasBytesLimit(t *testing.T) {
	src := aliasBomb("p", 1<<20, 20000)
	reg := testRegistry(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := LoadBytes(map[string][]byte{"a.yaml": []byte(src)}, reg)
	runtime.ReadMemStats(&after)
	want := []string{"a.yaml:6: net.Port/p: spec.labels.copies[63]: aliases expand to more than 64 MiB"}
	if diff := cmp.Diff(want, errorStrings(t, err, "")); diff != "" {
		t.Errorf("LoadBytes() errors mismatch (-want +got):\n%s", diff)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("LoadBytes() allocated %d MiB; want at most 64 MiB for a %d KiB file", alloc>>20, len(src)>>10)
	}
}

// TestAliasBytesLimitPerLoad checks the limit holds for a load as a whole,
// and that which file and line pass it does not depend on the order files
// are parsed in.
func TestAliasBytesLimitPerLoad(t *testing.T) {
	setLimit(t, &MaxAliasBytes, 10000)
	reg := testRegistry(t)
	in := map[string][]byte{}
	for _, name := range []string{"a", "b", "c", "d"} {
		in[name+".yaml"] = []byte(aliasBomb(name, 1000, 4)) // 4 uses of 1001 bytes
	}
	// a and b expand to 8008 bytes, c passes the limit at its second alias,
	// and d has none left.
	want := []string{
		"c.yaml:6: net.Port/c: spec.labels.copies[1]: aliases expand to more than 9.8 KiB",
		"d.yaml:6: net.Port/d: spec.labels.copies[0]: aliases expand to more than 9.8 KiB",
	}
	for range 20 {
		_, err := LoadBytes(in, reg)
		if diff := cmp.Diff(want, errorStrings(t, err, "")); diff != "" {
			t.Fatalf("LoadBytes() errors mismatch (-want +got):\n%s", diff)
		}
	}
	// Within the limit, aliases are expanded.
	delete(in, "c.yaml")
	delete(in, "d.yaml")
	rv, err := LoadBytes(in, reg)
	if err != nil {
		t.Fatalf("LoadBytes() within the limit: %v", err)
	}
	r, _ := rv.Get("net.Port/a")
	if got := r.Spec["labels"].(map[string]any)["copies"].([]any); len(got) != 4 || got[3] != strings.Repeat("x", 1000) {
		t.Errorf("copies = %d values; want 4 copies of the string", len(got))
	}
}

// TestLongPathsAreBounded: keys of 1 MiB nested 8 deep, with an error in
// each of many values below them, would render gigabytes of paths.
func TestLongPathsAreBounded(t *testing.T) {
	setLimit(t, &MaxAliasBytes, 20<<20)
	var b strings.Builder
	b.WriteString("kind: net.Port\nmetadata: {name: p}\nspec:\n  labels:\n")
	indent := "    "
	for i := range 8 {
		fmt.Fprintf(&b, "%s? %c%s\n%s:\n", indent, 'a'+i, strings.Repeat("k", 1<<20), indent)
		indent += "  "
	}
	for range 1000 {
		fmt.Fprintf(&b, "%sd: 1\n", indent)
	}
	_, err := LoadBytes(map[string][]byte{"a.yaml": []byte(b.String())}, testRegistry(t))
	got := errorStrings(t, err, "")
	last := got[len(got)-1]
	if len(got) > 10 || !strings.HasSuffix(last, "the paths of the fields named in errors and references add up to more than 20 MiB (very long keys?)") {
		t.Errorf("got %d errors, the last %.200q; want a few duplicate keys, then the paths' limit", len(got), last)
	}
}

// BenchmarkAliasBomb loads the hostile file of TestAliasBytesLimit: 20,000
// aliases of a 1 MiB string, refused at the limit. B/op shows the memory
// the refusal takes, whatever the expansion would have been.
func BenchmarkAliasBomb(b *testing.B) {
	src := []byte(aliasBomb("p", 1<<20, 20000))
	reg := testRegistry(b)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadBytes(map[string][]byte{"a.yaml": src}, reg); err == nil {
			b.Fatal("the alias bomb loaded")
		}
	}
}

// BenchmarkFileSizeLimit refuses a sparse manifest file of 1 GiB: the
// limit is checked on the size before anything is read.
func BenchmarkFileSizeLimit(b *testing.B) {
	p := filepath.Join(b.TempDir(), "big.yaml")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		b.Fatal(err)
	}
	f.Close()
	reg := testRegistry(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load([]string{p}, reg); err == nil {
			b.Fatal("a 1 GiB manifest loaded")
		}
	}
}
