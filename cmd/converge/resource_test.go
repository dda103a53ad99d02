package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/store"
)

// labelledYAML: a directory and a file labelled app=site, a file labelled
// app=motd whose drift is only reported, and a file that cannot be
// created (its directory is not declared) with a symlink that waits for it.
const labelledYAML = `kind: file.Directory
metadata: {name: site, labels: {app: site, tier: web}}
spec: {path: site}
---
kind: file.File
metadata: {name: index, labels: {app: site}}
spec:
  path: ${file.Directory/site.outputs.path}/index.html
  content: "hello\n"
---
kind: file.File
metadata: {name: motd, labels: {app: motd}}
policy: {drift: alert}
spec: {path: motd, content: "welcome\n"}
---
kind: file.File
metadata: {name: orphan}
spec: {path: nodir/orphan, content: "x"}
---
kind: file.Symlink
metadata: {name: link}
dependsOn: [file.File/orphan]
spec: {path: link, target: nodir/orphan}
`

// labelled applies labelledYAML (it does not converge: exit 1), drifts
// file.File/motd by hand and applies again, so that it stands drifted.
func labelled(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.write(map[string]string{"site.yaml": labelledYAML})
	// Few retries of the failing create (a few a second, each a
	// millisecond in flight), so that the deadline rarely cuts one and
	// leaves it Creating rather than Error.
	quick := []string{"--timeout", "1s", "--backoff-base", "200ms", "--backoff-max", "400ms"}
	e.mustRun(1, append([]string{"apply"}, quick...)...)
	if err := os.WriteFile(filepath.Join(e.root, "motd"), []byte("changed by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustRun(1, append([]string{"apply"}, quick...)...)
	return e
}

func TestGet(t *testing.T) {
	e := labelled(t)
	tests := map[string]struct {
		args     []string
		code     int
		want     []string // stdout lines, as patterns
		wantErr  string
		wantJSON []string // IDs, with -o json
	}{
		"one": {
			args: []string{"file.File/index"},
			want: []string{`^file\.File/index: Ready, created \d+s ago, last reconciled \d+s ago$`},
		},
		"several, with their messages": {
			args: []string{"file.Symlink/link", "file.File/orphan"},
			want: []string{
				`^file\.Symlink/link: Waiting, created \d+s ago, last reconciled (never|\d+s ago): waiting for file\.File/orphan: Error$`,
				`^file\.File/orphan: Error, created \d+s ago, last reconciled \d+s ago: create file\.File/orphan: parent directory nodir does not exist`,
			},
		},
		"unknown": {
			args:    []string{"file.File/nope"},
			code:    1,
			wantErr: "error: file.File/nope: unknown resource: neither in the manifests nor in the state",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Without -f: the state's target revision is the desired one.
			r := cli(nil, append([]string{"get", "--state", e.state}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("got exit %d; want %d\n%s", r.code, tc.code, r)
			}
			if tc.wantErr != "" {
				if !strings.Contains(r.stderr, tc.wantErr) || r.stdout != "" {
					t.Errorf("got %s; want %q on stderr only", r, tc.wantErr)
				}
				return
			}
			lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d lines; want %d:\n%s", len(lines), len(tc.want), r.stdout)
			}
			for i, re := range tc.want {
				if !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("line %d: got %q; want it to match %s", i, lines[i], re)
				}
			}
			js := cli(nil, append([]string{"get", "-o", "json", "--state", e.state}, tc.args...)...)
			if len(tc.args) == 1 {
				var got controller.ResourceView
				if err := json.Unmarshal([]byte(js.stdout), &got); err != nil || got.ID != tc.args[0] {
					t.Errorf("get -o json: got %+v (%v); want %s\n%s", got, err, tc.args[0], js)
				}
			} else {
				var got []controller.ResourceView
				if err := json.Unmarshal([]byte(js.stdout), &got); err != nil || len(got) != len(tc.args) {
					t.Errorf("get -o json: got %+v (%v); want %d resources\n%s", got, err, len(tc.args), js)
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	e := labelled(t)
	tests := map[string]struct {
		id   string
		want []string // fragments of the text
		// check the -o json view
		check func(t *testing.T, v controller.DescribeView)
	}{
		"ready": {
			id: "file.File/index",
			want: []string{
				"Resource:", "file.File/index\n", "Phase:", "Ready\n", "Labels:", "app=site\n", "Origin:", "created\n",
				"Depends on:", "file.Directory/site\n",
				"Spec:\n", `  content: "hello\n"` + "\n", `  path: "${file.Directory/site.outputs.path}/index.html"`,
				"Applied spec:\n", `  path: "site/index.html"`,
				"Outputs:\n", "Conditions:\n", "Ready  True    Converged",
				"Events:\n", "Normal  Created",
			},
			check: func(t *testing.T, v controller.DescribeView) {
				if !v.Desired || v.Spec["content"] != "hello\n" || v.Outputs["path"] != "site/index.html" || v.Labels["app"] != "site" ||
					len(v.Events) == 0 || v.Drift != "" || v.Waiting != "" {
					t.Errorf("got %+v", v)
				}
			},
		},
		"error": {
			id:   "file.File/orphan",
			want: []string{"Phase:", "Error\n", "Attempts:", "Last error:", "parent directory nodir does not exist", "Next retry:"},
			check: func(t *testing.T, v controller.DescribeView) {
				if v.LastError == "" || v.NextRetry == nil || v.Attempts == 0 {
					t.Errorf("got %+v; want the last error and the next retry", v)
				}
			},
		},
		"waiting": {
			id:   "file.Symlink/link",
			want: []string{"Phase:", "Waiting\n", "Waiting:", "waiting for file.File/orphan: Error"},
			check: func(t *testing.T, v controller.DescribeView) {
				if diff := cmp.Diff([]controller.DepStatus{{ID: "file.File/orphan", Phase: store.PhaseError}}, v.WaitingFor); diff != "" {
					t.Errorf("waitingFor (-want +got):\n%s", diff)
				}
			},
		},
		"drifted": {
			id:   "file.File/motd",
			want: []string{"Phase:", "Drifted\n", "Drift (observed -> last applied):\n  content: ", "DriftDetected"},
			check: func(t *testing.T, v controller.DescribeView) {
				if !strings.Contains(v.Drift, "content") {
					t.Errorf("drift: got %q; want the content's diff", v.Drift)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(nil, "describe", tc.id, "--state", e.state)
			if r.code != 0 {
				t.Fatalf("describe: %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("got\n%s\nwant it to contain %q", r.stdout, w)
				}
			}
			js := cli(nil, "describe", tc.id, "-o", "json", "--state", e.state)
			var v controller.DescribeView
			if err := json.Unmarshal([]byte(js.stdout), &v); err != nil || v.ID != tc.id {
				t.Fatalf("describe -o json: %v\n%s", err, js)
			}
			tc.check(t, v)
			ym := cli(nil, "describe", tc.id, "-o", "yaml", "--state", e.state)
			var y map[string]any
			if err := yaml.Unmarshal([]byte(ym.stdout), &y); err != nil || y["id"] != tc.id {
				t.Errorf("describe -o yaml: %v\n%s", err, ym)
			}
		})
	}

	// A resource that left the manifests: described from the state, as
	// not desired, with -f.
	e.write(map[string]string{"site.yaml": strings.SplitN(labelledYAML, "---\nkind: file.File\nmetadata: {name: motd", 2)[0]})
	r := e.mustRun(0, "describe", "file.File/motd")
	if !strings.Contains(r.stdout, "Desired:") || strings.Contains(r.stdout, "\nSpec:") || !strings.Contains(r.stdout, "Applied spec:") {
		t.Errorf("describe of a resource removed from the manifests: got\n%s", r.stdout)
	}
	r = e.mustRun(1, "describe", "file.File/nope")
	if !strings.Contains(r.stderr, "error: file.File/nope: unknown resource") {
		t.Errorf("describe of an unknown resource: got %s", r)
	}
}

func TestStatusSelection(t *testing.T) {
	e := labelled(t)
	tests := map[string]struct {
		args    []string
		want    []string
		wantErr string
	}{
		"all":           {want: []string{"file.Directory/site", "file.File/index", "file.File/motd", "file.File/orphan", "file.Symlink/link"}},
		"ids":           {args: []string{"file.Symlink/link", "file.File/index"}, want: []string{"file.Symlink/link", "file.File/index"}},
		"kind":          {args: []string{"--kind", "file.File"}, want: []string{"file.File/index", "file.File/motd", "file.File/orphan"}},
		"phase":         {args: []string{"--phase", "ready"}, want: []string{"file.Directory/site", "file.File/index"}},
		"label":         {args: []string{"-l", "app=site"}, want: []string{"file.Directory/site", "file.File/index"}},
		"labels":        {args: []string{"-l", "app=site,tier=web"}, want: []string{"file.Directory/site"}},
		"labels, twice": {args: []string{"-l", "app=site", "-l", "tier=web"}, want: []string{"file.Directory/site"}},
		"all at once":   {args: []string{"--kind", "file.File", "--phase", "Drifted", "-l", "app=motd"}, want: []string{"file.File/motd"}},
		"none":          {args: []string{"-l", "app=nothing"}, want: []string{}},
		"unknown id":    {args: []string{"file.File/index", "file.File/nope"}, wantErr: "error: file.File/nope: unknown resource"},
		"bad phase":     {args: []string{"--phase", "Broken"}, wantErr: `error: --phase "Broken": must be one of Pending, Waiting,`},
		"label not":     {args: []string{"-l", "tier!=web"}, want: []string{"file.File/index", "file.File/motd", "file.File/orphan", "file.Symlink/link"}},
		"label set":     {args: []string{"-l", "tier"}, want: []string{"file.Directory/site"}},
		"label unset":   {args: []string{"-l", "!app"}, want: []string{"file.File/orphan", "file.Symlink/link"}},
		"bad label":     {args: []string{"-l", "a=b=c"}, wantErr: `error: -l "a=b=c": want key=value, key!=value, key or !key`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Without -f the labels are the target revision's.
			for _, withFiles := range []bool{false, true} {
				args := append([]string{"status", "-o", "json", "--state", e.state}, tc.args...)
				if withFiles {
					args = append(args, "-f", e.manifests)
				}
				r := cli(nil, args...)
				if tc.wantErr != "" {
					if r.code != 1 || !strings.Contains(r.stderr, tc.wantErr) {
						t.Errorf("got %s; want exit 1 and %q", r, tc.wantErr)
					}
					continue
				}
				var v struct{ Resources []controller.ResourceView }
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Fatalf("%v\n%s", err, r)
				}
				got := []string{}
				for _, res := range v.Resources {
					got = append(got, res.ID)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("with -f %v: resources (-want +got):\n%s", withFiles, diff)
				}
			}
		})
	}
}
