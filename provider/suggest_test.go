package provider

import "testing"

func TestSuggest(t *testing.T) {
	kinds := []string{"file.Directory", "file.File", "file.Symlink", "cloud.Instance", "http.Resource"}
	tests := map[string]string{
		"file.Fil":       "file.File",
		"file.file":      "file.File",
		"file.Dirctory":  "file.Directory",
		"cloud.Instanse": "cloud.Instance",
		"postgres.Role":  "",
		"x":              "",
	}
	for in, want := range tests {
		if got := Suggest(in, kinds); got != want {
			t.Errorf("Suggest(%q) = %q; want %q", in, got, want)
		}
	}
}
