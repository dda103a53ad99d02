package plan_test

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const rev = "sha256:3f2a9c1b7d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e"

// secret values must never appear in any rendering.
var secrets = []string{"hunter2", "s3cr3t-old", "s3cr3t-new", "db-password"}

func act(t plan.Type, id string) plan.Action {
	kind, name, _ := strings.Cut(id, "/")
	return plan.Action{Type: t, ID: id, Kind: kind, Name: name}
}

func with(a plan.Action, f func(*plan.Action)) plan.Action {
	f(&a)
	return a
}

// fullPlan holds every action type, in dependency order, with sensitive,
// unknown, multi-line and force-new values.
func fullPlan() *plan.Plan {
	return &plan.Plan{
		Revision: rev,
		Actions: []plan.Action{
			act(plan.None, "file.Directory/etc"),
			with(act(plan.Create, "file.Directory/www"), func(a *plan.Action) {
				a.Reason = "not found"
				a.Diff = diff.Diff{
					{Path: "mode", New: "0755", OldAbsent: true},
					{Path: "path", New: "/srv/www", OldAbsent: true, ForceNew: true},
				}
			}),
			with(act(plan.Create, "file.File/index"), func(a *plan.Action) {
				a.Reason = "not found"
				a.Diff = diff.Diff{
					{Path: "content", New: "<!doctype html>\n<html>\n<body>hello</body>\n</html>\n", OldAbsent: true},
					{Path: "path", New: provider.Unknown{Expr: "${file.Directory/www.outputs.path}/index.html"}, OldAbsent: true, Unknown: true, ForceNew: true},
					{Path: "token", New: "hunter2", OldAbsent: true, Sensitive: true},
				}
			}),
			with(act(plan.Update, "file.File/config"), func(a *plan.Action) {
				a.Reason = "spec changed"
				a.Diff = diff.Diff{
					{Path: "content", Old: "a", New: "b"},
					{Path: "env.HOME", Old: "/home", New: "/root"},
					{Path: `env["a.b"]`, Old: "x", NewAbsent: true},
					{Path: "secrets.db", Old: "s3cr3t-old", New: "s3cr3t-new", Sensitive: true},
					{Path: "size", Old: math.NaN(), New: int64(3)},
				}
			}),
			with(act(plan.Update, "file.File/motd"), func(a *plan.Action) {
				a.Reason = "drift corrected"
				a.Drift = true
				a.Diff = diff.Diff{{Path: "content", Old: "edited by hand", New: "welcome"}}
			}),
			with(act(plan.Replace, "file.File/key"), func(a *plan.Action) {
				a.Reason = "spec changed"
				a.Diff = diff.Diff{
					{Path: "args[2]", Old: "-v", New: "-q"},
					{Path: "mode", Old: "0644", New: "0600", ForceNew: true},
				}
			}),
			with(act(plan.Delete, "file.File/key"), func(a *plan.Action) {
				a.Deposed = true
			}),
			with(act(plan.Delete, "file.File/old"), func(a *plan.Action) {
				a.Reason = "removed from manifests"
			}),
			with(act(plan.Adopt, "file.File/existing"), func(a *plan.Action) {
				a.Reason = "exists and matches"
			}),
			with(act(plan.Forget, "file.File/orphan"), func(a *plan.Action) {
				a.Reason = "removed from manifests; policy orphan"
			}),
			with(act(plan.Wait, "file.File/app"), func(a *plan.Action) {
				a.Reason = "waiting for file.Directory/www: Creating"
				a.WaitFor = []string{"file.Directory/www", "file.File/index"}
			}),
			with(act(plan.Wait, "file.File/app2"), func(a *plan.Action) {
				a.WaitFor = []string{"file.File/app"}
			}),
			with(act(plan.Blocked, "file.File/bad"), func(a *plan.Action) {
				a.Reason = "terminal: permission denied"
			}),
			with(act(plan.Conflict, "file.File/taken"), func(a *plan.Action) {
				a.Reason = "exists and is not converge's"
				a.Diff = diff.Diff{
					{Path: "content", Old: "theirs", New: "ours"},
					{Path: "token", Old: "db-password", New: "hunter2", Sensitive: true},
				}
			}),
			with(act(plan.Drift, "file.File/banner"), func(a *plan.Action) {
				a.Reason = "drifted; policy alert"
				a.Drift = true
				a.Diff = diff.Diff{{Path: "labels.team", Old: "ops", NewAbsent: true}}
			}),
			with(act(plan.Error, "http.Resource/api"), func(a *plan.Action) {
				a.Reason = "observe http.Resource/api: GET http://127.0.0.1:9/v1/w: connection refused"
			}),
			act(plan.None, "file.File/same"),
		},
	}
}

func notesOnlyPlan() *plan.Plan {
	return &plan.Plan{
		Revision: "0123abcd",
		Actions: []plan.Action{
			act(plan.None, "file.File/a"),
			with(act(plan.Conflict, "file.File/b"), func(a *plan.Action) {
				a.Reason = "exists and is not converge's"
				a.Diff = diff.Diff{{Path: "content", Old: "theirs", New: "ours"}}
			}),
		},
	}
}

func TestGolden(t *testing.T) {
	tests := map[string]*plan.Plan{
		"full":       fullPlan(),
		"empty":      {Revision: rev},
		"unchanged":  {Revision: rev, Actions: []plan.Action{act(plan.None, "file.File/a")}},
		"notes-only": notesOnlyPlan(),
		"unobserved": {Revision: rev, Actions: []plan.Action{
			act(plan.None, "file.File/a"),
			with(act(plan.Error, "http.Resource/api"), func(a *plan.Action) {
				a.Reason = "observe http.Resource/api: GET http://127.0.0.1:9/v1/w: connection refused"
			}),
			with(act(plan.Error, "http.Resource/hook"), func(a *plan.Action) {
				a.Reason = "not observed: it depends on http.Resource/api, which could not be observed"
			}),
		}},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatalf("WriteText: %v", err)
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatalf("WriteJSON: %v", err)
			}
			golden(t, filepath.Join("testdata", name+".txt.golden"), text.Bytes())
			golden(t, filepath.Join("testdata", name+".json.golden"), js.Bytes())
			for _, s := range secrets {
				if bytes.Contains(text.Bytes(), []byte(s)) || bytes.Contains(js.Bytes(), []byte(s)) {
					t.Errorf("a sensitive value (%q) was rendered", s)
				}
			}
		})
	}
}

// golden compares got with the file at path, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s: -want +got:\n%s", path, d)
	}
}

func TestWriteDoesNotModifyPlan(t *testing.T) {
	p := fullPlan()
	if err := p.WriteText(&bytes.Buffer{}); err != nil {
		t.Fatalf("WriteText: %v", err)
	}
	if err := p.WriteJSON(&bytes.Buffer{}); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	if d := cmp.Diff(fullPlan(), p, cmp.Comparer(func(a, b float64) bool {
		return a == b || (math.IsNaN(a) && math.IsNaN(b))
	})); d != "" {
		t.Errorf("rendering modified the plan: -before +after:\n%s", d)
	}
}

func TestSummary(t *testing.T) {
	got := fullPlan().Summary()
	want := plan.Summary{
		Create: 2, Update: 2, Replace: 1, Delete: 2, Adopt: 1, Forget: 1,
		Wait: 2, Blocked: 1, Conflict: 1, Drift: 1, Error: 1, None: 2,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Summary(): -want +got:\n%s", d)
	}
	if got, want := got.Count(plan.Wait), 2; got != want {
		t.Errorf("Count(wait): got %d; want %d", got, want)
	}
	if got, want := got.Count("bogus"), 0; got != want {
		t.Errorf("Count(bogus): got %d; want %d", got, want)
	}
	var nilPlan *plan.Plan
	if d := cmp.Diff(plan.Summary{}, nilPlan.Summary()); d != "" {
		t.Errorf("nil Summary(): -want +got:\n%s", d)
	}
}

func TestHasChanges(t *testing.T) {
	tests := map[plan.Type]bool{
		plan.None:     false,
		plan.Wait:     false,
		plan.Blocked:  false,
		plan.Conflict: false,
		plan.Drift:    false,
		plan.Error:    false,
		plan.Create:   true,
		plan.Update:   true,
		plan.Replace:  true,
		plan.Delete:   true,
		plan.Adopt:    true,
		plan.Forget:   true,
	}
	for typ, want := range tests {
		t.Run(string(typ), func(t *testing.T) {
			p := &plan.Plan{Actions: []plan.Action{act(plan.None, "a/a"), act(typ, "a/b")}}
			if got := p.HasChanges(); got != want {
				t.Errorf("HasChanges() with a %s action: got %v; want %v", typ, got, want)
			}
		})
	}
	var nilPlan *plan.Plan
	if nilPlan.HasChanges() {
		t.Errorf("nil HasChanges(): got true; want false")
	}
}

func TestShortRevision(t *testing.T) {
	tests := map[string]string{
		"":                        "",
		"abc":                     "abc",
		"0123456789abcdef":        "0123456789ab",
		"sha256:0123456789abcdef": "0123456789ab",
	}
	for in, want := range tests {
		if got := plan.ShortRevision(in); got != want {
			t.Errorf("ShortRevision(%q): got %q; want %q", in, got, want)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	bogus := &plan.Plan{Revision: rev, Actions: []plan.Action{act(plan.Create, "a/ok"), act("explode", "a/b")}}
	writeErr := errors.New("disk full")
	tests := map[string]struct {
		plan    *plan.Plan
		w       *failWriter
		wantErr string
		wantIs  error
	}{
		"UnknownType": {plan: bogus, w: &failWriter{}, wantErr: `unknown action type "explode"`},
		"WriterFails": {plan: fullPlan(), w: &failWriter{err: writeErr}, wantIs: writeErr},
	}
	for name, tc := range tests {
		for _, format := range []string{"text", "json"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var err error
				if format == "text" {
					err = tc.plan.WriteText(tc.w)
				} else {
					err = tc.plan.WriteJSON(tc.w)
				}
				if err == nil {
					t.Fatalf("got nil error; want one")
				}
				if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got error %q; want it to contain %q", err, tc.wantErr)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("got error %v; want errors.Is %v", err, tc.wantIs)
				}
				if tc.w.err == nil && tc.w.n > 0 {
					t.Errorf("wrote %d bytes before failing; want none", tc.w.n)
				}
			})
		}
	}
}

type failWriter struct {
	err error
	n   int
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.n += len(p)
	return len(p), nil
}

func TestNilPlanRendersEmpty(t *testing.T) {
	var p *plan.Plan
	var text bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatalf("WriteText: %v", err)
	}
	want := "converge plan\n\nNo changes. Observed state matches the manifests.\n"
	if d := cmp.Diff(want, text.String()); d != "" {
		t.Errorf("WriteText(nil): -want +got:\n%s", d)
	}
}

func TestErrors(t *testing.T) {
	if !fullPlan().Errors() {
		t.Errorf("Errors() = false for a plan with an error action")
	}
	if notesOnlyPlan().Errors() {
		t.Errorf("Errors() = true for a plan without one")
	}
	var nilPlan *plan.Plan
	if nilPlan.Errors() {
		t.Errorf("nil Errors() = true")
	}
}
