package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := map[string]struct {
		bi   *debug.BuildInfo
		ok   bool
		want buildVersion
	}{
		"no build info": {
			want: buildVersion{Version: "(devel)", Commit: "unknown", Go: runtime.Version(), Platform: platform},
		},
		"built from a work tree without vcs stamps": {
			bi:   &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}},
			ok:   true,
			want: buildVersion{Version: "(devel)", Commit: "unknown", Go: "go1.99.1", Platform: platform},
		},
		"go install of a tag": {
			bi: &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "false"},
			}},
			ok:   true,
			want: buildVersion{Version: "v1.4.0", Commit: "0123456789abcdef0123456789abcdef01234567", Go: "go1.99.1", Platform: platform},
		},
		"modified work tree": {
			bi: &debug.BuildInfo{Main: debug.Module{}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"},
			}},
			ok:   true,
			want: buildVersion{Version: "(devel)", Commit: "abc", Modified: true, Go: runtime.Version(), Platform: platform},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, readVersion(tc.bi, tc.ok)); diff != "" {
				t.Errorf("readVersion (-want +got):\n%s", diff)
			}
		})
	}
	v := buildVersion{Version: "v1.4.0", Commit: "abc", Modified: true, Go: "go1.99.1", Platform: "linux/amd64"}
	if got, want := v.String(), "converge v1.4.0 (commit abc, modified; go1.99.1 linux/amd64)"; got != want {
		t.Errorf("String: got %q; want %q", got, want)
	}
}

func TestVersionCommand(t *testing.T) {
	want := currentVersion()
	tests := map[string]struct {
		args  []string
		check func(t *testing.T, stdout string)
	}{
		"--version": {args: []string{"--version"}, check: func(t *testing.T, stdout string) {
			if stdout != want.String()+"\n" {
				t.Errorf("got %q; want %q", stdout, want.String()+"\n")
			}
		}},
		"version": {args: []string{"version"}, check: func(t *testing.T, stdout string) {
			for _, line := range []string{"version:  " + want.Version, "commit:   " + want.Commit, "go:       " + runtime.Version()} {
				if !strings.Contains(stdout, line+"\n") {
					t.Errorf("got\n%s\nwant the line %q", stdout, line)
				}
			}
		}},
		"version -o json": {args: []string{"version", "-o", "json"}, check: func(t *testing.T, stdout string) {
			var got buildVersion
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		"version -o yaml": {args: []string{"version", "-o", "yaml"}, check: func(t *testing.T, stdout string) {
			if !strings.HasPrefix(stdout, "version: ") || !strings.Contains(stdout, "\ngo: "+runtime.Version()+"\n") {
				t.Errorf("got\n%s\nwant the version as YAML", stdout)
			}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(nil, tc.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("got %s; want exit 0 and nothing on stderr", r)
			}
			tc.check(t, r.stdout)
		})
	}
}
