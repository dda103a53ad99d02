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
		"flie.File":      "file.File", // a transposition is one edit
	}
	for in, want := range tests {
		if got := Suggest(in, kinds); got != want {
			t.Errorf("Suggest(%q) = %q; want %q", in, got, want)
		}
	}
	fields := []string{"name", "labels"}
	for in, want := range map[string]string{"nmae": "name", "naem": "name", "lables": "labels", "nom": ""} {
		if got := Suggest(in, fields); got != want {
			t.Errorf("Suggest(%q) = %q; want %q", in, got, want)
		}
	}
}
