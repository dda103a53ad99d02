package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompletion: the shell completion offers the resource IDs the state
// records (and the manifests declare, for adopt) and the revision hashes,
// reading the state without naming it or changing it.
func TestCompletion(t *testing.T) {
	e := applied(t)
	e.write(map[string]string{"site.yaml": changedSiteYAML})
	e.remove("old.yaml")
	e.mustRun(0, "apply", "--yes")
	revs := e.mustRun(0, "history", "-o", "json").stdout
	all := []string{"file.Directory/site", "file.File/index", "file.File/keep", "file.File/new", "file.Symlink/current"}
	tests := map[string]struct {
		args []string
		want []string
	}{
		"describe":                  {[]string{"describe", ""}, all},
		"describe takes one ID":     {[]string{"describe", "file.File/index", ""}, nil},
		"get, by prefix":            {[]string{"get", "file.File/"}, []string{"file.File/index", "file.File/keep", "file.File/new"}},
		"get, less those given":     {[]string{"get", "file.File/index", "file.File/"}, []string{"file.File/keep", "file.File/new"}},
		"status":                    {[]string{"status", "file.S"}, []string{"file.Symlink/current"}},
		"events --resource":         {[]string{"events", "--resource", "file.D"}, []string{"file.Directory/site"}},
		"adopt, from the manifests": {[]string{"adopt", "-f", e.manifests, "file.File/n"}, []string{"file.File/new"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// The flags first: the last word is the one completed.
			args := append([]string{"__complete", tc.args[0], "--state", e.state, "--root", e.root}, tc.args[1:]...)
			r := cli(nil, args...)
			if d := cmp.Diff(tc.want, completions(r.stdout)); d != "" {
				t.Errorf("completions (-want +got):\n%s\n%s", d, r)
			}
			if strings.Contains(r.stderr, "state:") {
				t.Errorf("completion named the state on stderr:\n%s", r)
			}
		})
	}
	t.Run("rollback", func(t *testing.T) {
		r := cli(nil, "__complete", "rollback", "--state", e.state, "")
		got := completions(r.stdout)
		if len(got) != 2 {
			t.Fatalf("got %q; want the two revisions\n%s", got, r)
		}
		for _, c := range got {
			hash, desc, _ := strings.Cut(c, "\t")
			if len(hash) != 12 || !strings.Contains(revs, hash) || !strings.Contains(desc, "converged") {
				t.Errorf("completion %q: want a 12-character hash of a stored revision and its state", c)
			}
		}
	})
	t.Run("no state", func(t *testing.T) {
		r := cli(nil, "__complete", "describe", "--state", e.state+".none", "")
		if got := completions(r.stdout); len(got) != 0 || r.code != 0 {
			t.Errorf("got %q, exit %d; want nothing, exit 0\n%s", got, r.code, r)
		}
	})
}

// completions returns what cobra's __complete printed, less its directive.
func completions(out string) []string {
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		got = append(got, l)
	}
	return got
}
