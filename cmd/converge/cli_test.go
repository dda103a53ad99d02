package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// siteYAML is a small site: a directory, two files that reference it, a
// file that depends on it by name, and a symlink.
const siteYAML = `kind: file.Directory
metadata:
  name: site
spec:
  path: site
---
kind: file.File
metadata:
  name: index
spec:
  path: ${file.Directory/site.outputs.path}/index.html
  content: "hello\n"
---
kind: file.File
metadata:
  name: keep
spec:
  path: ${file.Directory/site.outputs.path}/keep.txt
  content: "keep\n"
  mode: "0600"
---
kind: file.Symlink
metadata:
  name: current
dependsOn: [file.File/index]
spec:
  path: site/current
  target: index.html
`

const oldYAML = `kind: file.File
metadata:
  name: old
dependsOn: [file.Directory/site]
spec:
  path: site/old.txt
  content: "old\n"
`

// siteTree is the tree siteYAML and oldYAML declare.
func siteTree() map[string]node {
	return map[string]node{
		"site":            dirNode(0o755),
		"site/index.html": fileNode(0o644, "hello\n"),
		"site/keep.txt":   fileNode(0o600, "keep\n"),
		"site/current":    linkNode("index.html"),
		"site/old.txt":    fileNode(0o644, "old\n"),
	}
}

// changedSiteYAML changes siteYAML in every way a plan can show: index's
// content changes (update), keep moves (replace), new appears (create);
// removing old.yaml alongside deletes file.File/old.
var changedSiteYAML = strings.NewReplacer(
	`content: "hello\n"`, `content: "hello again\n"`,
	`/keep.txt`, `/kept.txt`,
).Replace(siteYAML) + `---
kind: file.File
metadata:
  name: new
dependsOn: [file.Directory/site]
spec:
  path: site/new.txt
  content: "new\n"
`

func changedSiteTree() map[string]node {
	return map[string]node{
		"site":            dirNode(0o755),
		"site/index.html": fileNode(0o644, "hello again\n"),
		"site/kept.txt":   fileNode(0o600, "keep\n"),
		"site/current":    linkNode("index.html"),
		"site/new.txt":    fileNode(0o644, "new\n"),
	}
}

func applied(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.write(map[string]string{"site.yaml": siteYAML, "old.yaml": oldYAML})
	e.mustRun(0, "apply")
	return e
}

func TestValidate(t *testing.T) {
	dir := `kind: file.Directory
metadata:
  name: d
spec:
  path: d
`
	tests := map[string]struct {
		files map[string]string
		// want: for each reported problem, in order, fragments its line holds.
		want [][]string
	}{
		"valid": {
			files: map[string]string{"site.yaml": siteYAML, "old.yaml": oldYAML},
		},
		"YAML syntax": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata:\n\tname: y\n"},
			want:  [][]string{{"a.yaml:3:", "invalid YAML", "a tab indents this line"}},
		},
		"unknown kind": {
			files: map[string]string{"a.yaml": "kind: file.Nope\nmetadata:\n  name: x\nspec: {}\n"},
			want:  [][]string{{"a.yaml:1:", "file.Nope/x", "kind:", `unknown kind "file.Nope"`}},
		},
		"unknown field": {
			files: map[string]string{"a.yaml": dir + "  colour: red\n"},
			want:  [][]string{{"a.yaml:6:", "file.Directory/d", "spec.colour:", "unknown field"}},
		},
		"missing field": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata:\n  name: f\nspec:\n  content: hi\n"},
			want:  [][]string{{"a.yaml:", "file.File/f", "spec.path:", "required"}},
		},
		"invalid field": {
			files: map[string]string{"a.yaml": dir + "  mode: 644\n"},
			want:  [][]string{{"a.yaml:6:", "file.Directory/d", "spec.mode:", "ambiguous"}},
		},
		"duplicate ID": {
			files: map[string]string{"a.yaml": dir, "b.yaml": dir},
			want:  [][]string{{"b.yaml:1:", "file.Directory/d", "duplicate", "a.yaml:1"}},
		},
		"dangling dependsOn": {
			files: map[string]string{"a.yaml": dir + "dependsOn: [file.File/ghost]\n"},
			want:  [][]string{{"a.yaml:6:", "file.Directory/d", "dependsOn[0]:", "file.File/ghost"}},
		},
		"dangling reference": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata:\n  name: f\nspec:\n  path: ${file.Directory/nothere.outputs.path}/f\n"},
			want:  [][]string{{"a.yaml:5:", "file.File/f", "spec.path:", "file.Directory/nothere"}},
		},
		"cycle": {
			files: map[string]string{"a.yaml": `kind: file.File
metadata: {name: c1}
dependsOn: [file.File/c2]
spec: {path: c1}
---
kind: file.File
metadata: {name: c2}
spec:
  path: c2
  content: ${file.File/c1.outputs.sha256}
`},
			want: [][]string{{"a.yaml:3:", "file.File/c1", "dependsOn[0]:", "cycle", "file.File/c2", "a.yaml:10"}},
		},
		"every problem at once": {
			files: map[string]string{
				"a.yaml": dir + "  colour: red\n---\nkind: file.Nope\nmetadata:\n  name: x\nspec: {}\n",
				"b.yaml": "kind: file.File\nmetadata:\n  name: f\nspec:\n  content: hi\n",
				"c.yaml": "kind: file.File\nmetadata:\n\tname: y\n",
			},
			want: [][]string{
				{"a.yaml:6:", "spec.colour:"},
				{"a.yaml:8:", "file.Nope"},
				{"b.yaml:", "file.File/f", "spec.path:"},
				{"c.yaml:3:", "invalid YAML"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			// The state's directory does not exist: validate must not create it.
			e.state = filepath.Join(filepath.Dir(e.state), "sub", "state.db")
			e.write(tc.files)

			r := e.run("validate")

			if len(tc.want) == 0 {
				if r.code != 0 || !strings.Contains(r.stdout, "resources are valid") || r.stderr != "" {
					t.Fatalf("got %s; want exit 0 and \"resources are valid\" on stdout only", r)
				}
			} else {
				if r.code != 1 || r.stdout != "" {
					t.Fatalf("got %s; want exit 1 and nothing on stdout", r)
				}
				lines := problemLines(t, r.stderr)
				if len(lines) != len(tc.want) {
					t.Fatalf("got %d problems; want %d:\n%s", len(lines), len(tc.want), r.stderr)
				}
				for i, frags := range tc.want {
					for _, f := range frags {
						if !strings.Contains(lines[i], f) {
							t.Errorf("problem %d: got %q; want it to contain %q", i, lines[i], f)
						}
					}
				}
			}
			if got := tree(t, e.root); len(got) != 0 {
				t.Errorf("validate wrote under --root: %v", got)
			}
			if _, err := os.Stat(filepath.Dir(e.state)); !os.IsNotExist(err) {
				t.Errorf("validate created the state directory (stat: %v)", err)
			}
		})
	}
}

// problemLines parses the report of a manifest error list: a header naming
// the count, then one indented line per problem.
func problemLines(t *testing.T, stderr string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	m := regexp.MustCompile(`^error: the manifests have (\d+) problems?; nothing was applied:$`).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("got stderr %q; want it to start with the problem count", stderr)
	}
	problems := lines[1:]
	if m[1] != strings.TrimSpace(itoa(len(problems))) {
		t.Errorf("header says %s problems; got %d lines", m[1], len(problems))
	}
	if plural := !strings.Contains(lines[0], m[1]+" problem;"); plural != (len(problems) != 1) {
		t.Errorf("header %q: the noun does not agree with the count", lines[0])
	}
	for i, l := range problems {
		if !strings.HasPrefix(l, "  ") {
			t.Errorf("problem line %q is not indented", l)
		}
		problems[i] = strings.TrimSpace(l)
	}
	return problems
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestPlan(t *testing.T) {
	e := applied(t)
	e.write(map[string]string{"site.yaml": changedSiteYAML})
	e.remove("old.yaml")
	before := tree(t, e.root)
	stateBefore, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}

	text := e.mustRun(0, "plan")
	js := e.mustRun(0, "plan", "-o", "json")
	detailed := e.mustRun(2, "plan", "--detailed-exitcode")

	for _, want := range []string{
		"Create:\n  + file.File/new ",
		"Update in place:\n  ~ file.File/index ",
		"Replace:\n  -/+ file.File/keep ",
		"(forces replacement)",
		"Delete:\n  - file.File/old ",
		"Plan: 1 to create, 1 to update, 1 to replace, 1 to delete.",
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("plan text: got\n%s\nwant it to contain %q", text.stdout, want)
		}
	}
	if !regexp.MustCompile(`\n      content: .*"hello.*" -> "hello again`).MatchString(text.stdout) {
		t.Errorf("plan text: got\n%s\nwant the content change of file.File/index", text.stdout)
	}
	if !strings.HasPrefix(text.stderr, "state: ") || strings.Count(text.stderr, "\n") != 1 {
		t.Errorf("plan wrote to stderr more than the state it uses: %q", text.stderr)
	}
	if detailed.stdout != text.stdout {
		t.Errorf("plan --detailed-exitcode printed something else:\n%s", cmp.Diff(text.stdout, detailed.stdout))
	}

	var p struct {
		Revision string `json:"revision"`
		Actions  []struct {
			Action string `json:"action"`
			ID     string `json:"id"`
		} `json:"actions"`
		Changes bool `json:"changes"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &p); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, js.stdout)
	}
	got := map[string]string{}
	for _, a := range p.Actions {
		got[a.ID] = a.Action
	}
	// Resources with nothing to do are left out.
	want := map[string]string{
		"file.File/index": "update",
		"file.File/keep":  "replace",
		"file.File/new":   "create",
		"file.File/old":   "delete",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan -o json actions (-want +got):\n%s", diff)
	}
	if !p.Changes || !strings.Contains(text.stdout, "converge plan for revision "+short(p.Revision)+"\n") {
		t.Errorf("plan -o json: got changes %v, revision %q; want true and the revision of the text plan", p.Changes, p.Revision)
	}

	if diff := cmp.Diff(before, tree(t, e.root)); diff != "" {
		t.Errorf("plan changed the tree (-before +after):\n%s", diff)
	}
	stateAfter, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if string(stateAfter) != string(stateBefore) {
		t.Errorf("plan changed the state file")
	}
}

func TestPlanDetailedExitCode(t *testing.T) {
	tests := map[string]struct {
		apply    bool
		manifest string
		want     int
	}{
		"changes":             {manifest: siteYAML, want: 2},
		"no changes":          {apply: true, manifest: siteYAML, want: 0},
		"changes after apply": {apply: true, manifest: changedSiteYAML, want: 2},
		"invalid manifests":   {apply: true, manifest: siteYAML + "---\nkind: file.Nope\nmetadata: {name: x}\n", want: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(map[string]string{"site.yaml": siteYAML})
			if tc.apply {
				e.mustRun(0, "apply")
			}
			e.write(map[string]string{"site.yaml": tc.manifest})
			before := tree(t, e.root)

			r := e.run("plan", "--detailed-exitcode")

			if r.code != tc.want {
				t.Errorf("got exit %d; want %d\n%s", r.code, tc.want, r)
			}
			if tc.want == 1 && !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("got stderr %q; want the error", r.stderr)
			}
			if diff := cmp.Diff(before, tree(t, e.root)); diff != "" {
				t.Errorf("plan changed the tree (-before +after):\n%s", diff)
			}
			if _, err := os.Stat(e.state); !tc.apply && !os.IsNotExist(err) {
				t.Errorf("plan created the state file (stat: %v)", err)
			}
		})
	}
}

type applyReport struct {
	Ready    int `json:"ready"`
	Deleted  int `json:"deleted"`
	Failures []struct {
		ID string `json:"id"`
	} `json:"failures"`
	Stats struct {
		Creates, Updates, Deletes int
	} `json:"stats"`
}

func parseReport(t *testing.T, r result) applyReport {
	t.Helper()
	var rep applyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, r)
	}
	return rep
}

func TestApplyLifecycle(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"site.yaml": siteYAML, "old.yaml": oldYAML})

	first := parseReport(t, e.mustRun(0, "apply", "-o", "json"))
	if got, want := first.Stats, (struct{ Creates, Updates, Deletes int }{5, 0, 0}); first.Ready != 5 || got != want {
		t.Errorf("first apply: got %d ready, stats %+v; want 5 ready, stats %+v", first.Ready, got, want)
	}
	if diff := cmp.Diff(siteTree(), tree(t, e.root)); diff != "" {
		t.Fatalf("tree after apply (-want +got):\n%s", diff)
	}

	again := parseReport(t, e.mustRun(0, "apply", "-o", "json"))
	if again.Ready != 5 || again.Stats.Creates+again.Stats.Updates+again.Stats.Deletes != 0 {
		t.Errorf("second apply: got %+v; want 5 ready and no changes", again)
	}
	if r := e.mustRun(0, "apply"); !strings.HasPrefix(r.stdout, "Apply: 5 resources Ready") || !strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("third apply: got %s; want the report on stdout and logs on stderr", r)
	}

	// Edit: update, replace and create; remove a resource: delete.
	e.write(map[string]string{"site.yaml": changedSiteYAML})
	e.remove("old.yaml")
	rep := parseReport(t, e.mustRun(0, "apply", "-o", "json"))
	// The replace is a delete and a create.
	if got, want := rep.Stats, (struct{ Creates, Updates, Deletes int }{2, 1, 2}); got != want {
		t.Errorf("apply of the edit: got stats %+v; want %+v", got, want)
	}
	if diff := cmp.Diff(changedSiteTree(), tree(t, e.root)); diff != "" {
		t.Fatalf("tree after the edit (-want +got):\n%s", diff)
	}
	if r := e.mustRun(0, "plan", "--detailed-exitcode"); !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("plan after apply: got %q; want no changes", r.stdout)
	}

	// A file converge does not manage survives destroy.
	if err := os.WriteFile(filepath.Join(e.root, "mine.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := parseReport(t, e.mustRun(0, "destroy", "--yes", "-o", "json"))
	if got, want := d.Stats, (struct{ Creates, Updates, Deletes int }{0, 0, 5}); d.Deleted != 5 || got != want {
		t.Errorf("destroy: got %d deleted, stats %+v; want 5 deleted, stats %+v", d.Deleted, got, want)
	}
	if diff := cmp.Diff(map[string]node{"mine.txt": fileNode(0o644, "mine")}, tree(t, e.root)); diff != "" {
		t.Errorf("tree after destroy (-want +got):\n%s", diff)
	}
	st := e.mustRun(0, "status", "-o", "json")
	var got struct{ Resources []controller.ResourceView }
	if err := json.Unmarshal([]byte(st.stdout), &got); err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Resources {
		if r.Phase != store.PhasePending {
			t.Errorf("status after destroy: %s is %s; want Pending (only desired, not recorded)", r.ID, r.Phase)
		}
	}
}

func TestDestroyConfirmation(t *testing.T) {
	const refused = "error: destroy needs confirmation: pass --yes when not on a terminal\n"
	tests := map[string]struct {
		stdin      func(t *testing.T) io.Reader
		wantCode   int
		wantStdout string
		wantStderr string
		wantTree   map[string]node
	}{
		"stdin is /dev/null": {
			stdin: func(t *testing.T) io.Reader {
				f, err := os.Open(os.DevNull)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			},
			wantCode:   1,
			wantStderr: refused,
			wantTree:   siteTree(),
		},
		"stdin is a pipe": {
			stdin: func(t *testing.T) io.Reader {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.WriteString("yes\n"); err != nil {
					t.Fatal(err)
				}
				w.Close()
				t.Cleanup(func() { r.Close() })
				return r
			},
			wantCode:   1,
			wantStderr: refused,
			wantTree:   siteTree(),
		},
		"answer no": {
			stdin:      func(*testing.T) io.Reader { return strings.NewReader("no\n") },
			wantCode:   1,
			wantStdout: "Type yes: Destroy cancelled.\n",
			wantTree:   siteTree(),
		},
		"answer yes": {
			stdin:      func(*testing.T) io.Reader { return strings.NewReader("yes\n") },
			wantCode:   0,
			wantStdout: "Type yes: Destroy: 5 resources deleted or forgotten",
			wantTree:   map[string]node{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := applied(t)
			r := cli(tc.stdin(t), append([]string{"destroy"}, e.globalArgs()...)...)
			if r.code != tc.wantCode {
				t.Errorf("got exit %d; want %d\n%s", r.code, tc.wantCode, r)
			}
			if !strings.Contains(r.stdout, tc.wantStdout) {
				t.Errorf("got stdout %q; want it to contain %q", r.stdout, tc.wantStdout)
			}
			if tc.wantStderr != "" && r.stderr != tc.wantStderr {
				t.Errorf("got stderr %q; want %q", r.stderr, tc.wantStderr)
			}
			if diff := cmp.Diff(tc.wantTree, tree(t, e.root)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"site.yaml": siteYAML})

	// Before apply there is no state: status says so.
	if r := e.mustRun(1, "status"); !strings.Contains(r.stderr, "no state file at") {
		t.Errorf("status before apply: got\n%s\nwant it to say there is no state", r)
	}
	if _, err := os.Stat(e.state); !os.IsNotExist(err) {
		t.Errorf("status created the state file (stat: %v)", err)
	}

	e.mustRun(0, "apply")
	table := e.mustRun(0, "status")
	lines := strings.Split(strings.TrimRight(table.stdout, "\n"), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "Target revision: ") || !regexp.MustCompile(`^RESOURCE\s+PHASE\s+AGE\s+LAST RECONCILE\s+MESSAGE$`).MatchString(lines[1]) {
		t.Fatalf("status table: got\n%s", table.stdout)
	}
	var ids []string
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) < 2 || f[1] != "Ready" {
			t.Errorf("status row %q: want Ready", l)
			continue
		}
		ids = append(ids, f[0])
	}
	wantIDs := []string{"file.Directory/site", "file.File/index", "file.File/keep", "file.Symlink/current"}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("status table rows (-want +got):\n%s", diff)
	}

	// Without -f, status shows what the state holds.
	js := cli(nil, "status", "-o", "json", "--state", e.state)
	if js.code != 0 {
		t.Fatalf("status -o json: %s", js)
	}
	var got struct {
		Target    string                    `json:"targetRevision"`
		Resources []controller.ResourceView `json:"resources"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &got); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, js.stdout)
	}
	ids = nil
	for _, r := range got.Resources {
		ids = append(ids, r.ID)
		if r.Phase != store.PhaseReady || r.Origin != store.OriginCreated || r.Created.IsZero() {
			t.Errorf("status -o json %s: got phase %s, origin %q, created %v; want Ready, created", r.ID, r.Phase, r.Origin, r.Created)
		}
	}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("status -o json resources (-want +got):\n%s", diff)
	}
	if len(got.Target) != 64 || lines[0] != "Target revision: "+short(got.Target)+" (converged)" {
		t.Errorf("status: target %q, table %q: want the same revision", got.Target, lines[0])
	}
	if got.Resources[1].Outputs["path"] != "site/index.html" {
		t.Errorf("status -o json file.File/index outputs: got %v; want path site/index.html", got.Resources[1].Outputs)
	}

	if r := e.run("status", "-o", "xml"); r.code != 1 || !strings.Contains(r.stderr, `-o "xml": must be text, json or yaml`) {
		t.Errorf("status -o xml: got %s; want exit 1 naming the flag and its values", r)
	}
}

func TestEvents(t *testing.T) {
	e := applied(t)
	// Break a file by hand: the next apply corrects the drift.
	if err := os.WriteFile(filepath.Join(e.root, "site", "index.html"), []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, "apply")
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	tests := map[string]struct {
		args    []string
		want    []string // "resource reason", sorted
		wantErr string   // exit 1 with this on stderr
	}{
		"all": {
			want: []string{
				" RevisionConverged", // the run's own event: no resource
				"file.Directory/site Created", "file.File/index Created", "file.File/index DriftCorrected",
				"file.File/index DriftDetected", "file.File/keep Created", "file.File/old Created", "file.Symlink/current Created",
			},
		},
		"one resource": {
			args: []string{"--resource", "file.File/index"},
			want: []string{"file.File/index Created", "file.File/index DriftCorrected", "file.File/index DriftDetected"},
		},
		"since a duration": {
			args: []string{"--resource", "file.File/keep", "--since", "1h"},
			want: []string{"file.File/keep Created"},
		},
		"since a time to come": {
			args: []string{"--since", future},
			want: []string{},
		},
		"a resource with no events since": {
			args: []string{"--resource", "file.File/keep", "--since", future},
			want: []string{},
		},
		"no such resource": {
			args:    []string{"--resource", "file.File/nope"},
			wantErr: "error: --resource file.File/nope: unknown resource: neither in the manifests nor in the state",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(nil, append([]string{"events", "-o", "json", "--state", e.state}, tc.args...)...)
			if tc.wantErr != "" {
				for _, r := range []result{r, cli(nil, append([]string{"events", "--state", e.state}, tc.args...)...)} {
					if r.code != 1 || !strings.Contains(r.stderr, tc.wantErr) || r.stdout != "" {
						t.Errorf("got %s; want exit 1 and %q on stderr only", r, tc.wantErr)
					}
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("events: %s", r)
			}
			var evs []store.Event
			if err := json.Unmarshal([]byte(r.stdout), &evs); err != nil {
				t.Fatalf("events -o json: %v\n%s", err, r.stdout)
			}
			got := []string{}
			for _, ev := range evs {
				got = append(got, ev.Resource+" "+string(ev.Reason))
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}

			table := cli(nil, append([]string{"events", "--state", e.state}, tc.args...)...)
			if table.code != 0 {
				t.Fatalf("events: %s", table)
			}
			if len(tc.want) == 0 {
				if table.stdout != "No events.\n" {
					t.Errorf("events table: got %q; want No events.", table.stdout)
				}
				return
			}
			lines := strings.Split(strings.TrimRight(table.stdout, "\n"), "\n")
			if len(lines) != len(tc.want)+1 || !strings.HasPrefix(lines[0], "LAST SEEN") {
				t.Errorf("events table: got\n%s\nwant a header and %d rows", table.stdout, len(tc.want))
			}
		})
	}

	if r := cli(nil, "events", "--state", e.state, "--since", "yesterday"); r.code != 1 || !strings.Contains(r.stderr, `--since "yesterday"`) {
		t.Errorf("events --since yesterday: got %s; want exit 1 naming the flag", r)
	}
}

func TestGraph(t *testing.T) {
	e := applied(t)
	dot := e.mustRun(0, "graph", "-o", "dot")
	for _, want := range []string{
		"digraph converge {",
		`"file.File/index" -> "file.Directory/site"`,
		`"file.Symlink/current" -> "file.File/index"`,
		`"file.File/old" -> "file.Directory/site"`,
	} {
		if !strings.Contains(dot.stdout, want) {
			t.Errorf("graph -o dot: got\n%s\nwant it to contain %q", dot.stdout, want)
		}
	}
	if strings.Contains(dot.stdout, "cycle") || dot.stderr != "" {
		t.Errorf("graph -o dot of an acyclic graph: got %s", dot)
	}
	mermaid := e.mustRun(0, "graph", "-o", "mermaid")
	for _, want := range []string{"flowchart LR", `["file.File/index<br/>Ready"]`, " --> "} {
		if !strings.Contains(mermaid.stdout, want) {
			t.Errorf("graph -o mermaid: got\n%s\nwant it to contain %q", mermaid.stdout, want)
		}
	}
}

func TestGraphCycle(t *testing.T) {
	const cyclic = `kind: file.Directory
metadata: {name: top}
spec: {path: top}
---
kind: file.File
metadata: {name: c1}
dependsOn: [file.File/c2, file.Directory/top]
spec: {path: c1}
---
kind: file.File
metadata: {name: c2}
dependsOn: [file.File/c1]
spec: {path: c2}
`
	tests := map[string]struct {
		format string
		want   []string
	}{
		"dot": {format: "dot", want: []string{
			`"file.File/c1" -> "file.File/c2" [tooltip="dependsOn at `,
			`label="cycle"`,
			`"file.File/c1" -> "file.Directory/top" [tooltip=`,
		}},
		"mermaid": {format: "mermaid", want: []string{"n1 ==>|cycle| n2", "n2 ==>|cycle| n1", "n1 --> n0", "class n1,n2 cycle"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(map[string]string{"c.yaml": cyclic})
			r := e.run("graph", "-o", tc.format)
			if r.code != 1 {
				t.Errorf("got exit %d; want 1\n%s", r.code, r)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("got stdout\n%s\nwant it to contain %q", r.stdout, want)
				}
			}
			lines := problemLines(t, r.stderr)
			if len(lines) != 1 || !strings.Contains(lines[0], "c.yaml:7: file.File/c1: dependsOn[0]: cycle: file.File/c1 needs file.File/c2") || !strings.Contains(lines[0], "c.yaml:12") {
				t.Errorf("got stderr %q; want the cycle with both resources' lines", r.stderr)
			}
		})
	}
}

// A kill -9 between writing a file's temporary copy and renaming it over
// the file leaves the temporary file behind (TestCrashSafety finds such
// files). These cases plant one where such a crash leaves it: a name the
// file provider made (its last 10 characters are the tag it checks).
func TestLeftoverTemporaryFiles(t *testing.T) {
	const leftover = "site/.index.html.converge-ABCDEFGHIJKLMNOPSXNRMWNPVL"
	tests := map[string]struct {
		run      func(e *env) result
		wantCode int
		wantTree map[string]node
	}{
		"apply writes the file again": {
			run: func(e *env) result {
				e.write(map[string]string{"site.yaml": strings.Replace(siteYAML, `"hello\n"`, `"hello again\n"`, 1)})
				return e.run("apply")
			},
			wantTree: func() map[string]node {
				want := siteTree()
				want["site/index.html"] = fileNode(0o644, "hello again\n")
				return want
			}(),
		},
		"destroy": {
			run: func(e *env) result {
				return e.run("destroy", "--yes", "--timeout", "2s", "--backoff-base", "10ms", "--backoff-max", "100ms")
			},
			wantTree: map[string]node{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := applied(t)
			if err := os.WriteFile(filepath.Join(e.root, leftover), []byte("hel"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := tc.run(e)
			if r.code != tc.wantCode {
				t.Errorf("got exit %d; want %d\n%s", r.code, tc.wantCode, r)
			}
			if diff := cmp.Diff(tc.wantTree, tree(t, e.root)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

// A kill -9 after a directory's create intent and its mkdir, before its
// chmod, leaves the directory with mode 0700 and a record that says only
// "create pending". The next apply finishes the create with an update; the
// directory must stay converge's, so that destroy deletes it.
func TestInterruptedCreateFinishedByUpdate(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"site.yaml": "kind: file.Directory\nmetadata: {name: site}\nspec: {path: site, mode: \"0750\"}\n"})
	g := &globals{files: []string{e.manifests}, root: e.root}
	reg, err := g.registry()
	if err != nil {
		t.Fatal(err)
	}
	rv, err := g.load(reg)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := rv.Get("file.Directory/site")
	ctx := t.Context()
	db, err := sqlite.Open(ctx, e.state)
	if err != nil {
		t.Fatal(err)
	}
	err = db.PutRecord(ctx, store.Record{
		ID: res.ID, Kind: res.Kind, Name: res.Name, Phase: store.PhaseCreating,
		Pending: &store.Operation{Op: "create", Key: "k1", SpecHash: res.Hash, Spec: map[string]any{"path": "site", "mode": "0750"}, Started: time.Now()},
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(e.root, "site"), 0o700); err != nil {
		t.Fatal(err)
	}

	e.mustRun(0, "apply")
	if diff := cmp.Diff(map[string]node{"site": dirNode(0o750)}, tree(t, e.root)); diff != "" {
		t.Errorf("tree after apply (-want +got):\n%s", diff)
	}
	var st struct{ Resources []controller.ResourceView }
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", "-o", "json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Resources) != 1 || st.Resources[0].Origin != store.OriginCreated {
		t.Errorf("status after apply: got %+v; want file.Directory/site with origin created", st.Resources)
	}
	// One more apply, as after another crash, must not turn it into an
	// adopted object.
	e.mustRun(0, "apply")
	e.mustRun(0, "destroy", "--yes")
	if got := tree(t, e.root); len(got) != 0 {
		t.Errorf("tree after destroy: got %v; want it empty", got)
	}
}
