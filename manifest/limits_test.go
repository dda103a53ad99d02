package manifest

import (
	"os"
	"path/filepath"
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
		out = append(out, strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), ""))
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
