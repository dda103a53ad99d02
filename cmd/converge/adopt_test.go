package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/engine"
)

// tty is a standard input that is a terminal, answering with its text.
type tty struct{ io.Reader }

func (tty) IsTerminal() bool { return true }

func answer(s string) io.Reader { return tty{strings.NewReader(s)} }

const adoptYAML = `kind: file.File
metadata:
  name: motd
spec:
  path: motd
  content: "from the manifests\n"
---
kind: file.File
metadata:
  name: fresh
spec:
  path: fresh.txt
  content: "fresh\n"
`

// conflicted is an installation whose file.File/motd exists, made by
// hand with other content than the manifests say: apply reports it as a
// conflict and leaves it alone.
func conflicted(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.write(map[string]string{"m.yaml": adoptYAML})
	if err := os.WriteFile(filepath.Join(e.root, "motd"), []byte("by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(1, "apply")
	if !strings.Contains(r.stdout, "not overwriting it") || !strings.Contains(r.stdout, "converge adopt file.File/motd\n") {
		t.Fatalf("apply did not report the conflict:\n%s", r)
	}
	return e
}

func TestAdopt(t *testing.T) {
	const motdDiff = `content: line 1: "by hand" -> "from the manifests"`
	tests := map[string]struct {
		stdin      io.Reader
		args       []string
		wantCode   int
		wantStdout []string // in this order
		wantStderr string
		adopted    bool // the next apply converges motd
	}{
		"yes flag": {
			args:       []string{"file.File/motd", "--yes"},
			wantStdout: []string{"Once adopted", "~ file.File/motd", motdDiff, "Adopted 1 object: file.File/motd."},
			adopted:    true,
		},
		"terminal answers y": {
			stdin:      answer("y\n"),
			args:       []string{"file.File/motd"},
			wantStdout: []string{motdDiff, "Adopt 1 object? [y/N]: ", "Adopted 1 object"},
			adopted:    true,
		},
		"terminal answers nothing": {
			stdin:      answer("\n"),
			args:       []string{"file.File/motd"},
			wantCode:   1,
			wantStdout: []string{motdDiff, "Adopt 1 object? [y/N]: ", "Adopt cancelled: nothing was recorded."},
		},
		"not a terminal, no --yes": {
			args:       []string{"file.File/motd"},
			wantCode:   1,
			wantStdout: []string{motdDiff},
			wantStderr: "error: adopt needs confirmation: pass --yes when not on a terminal",
		},
		"managed and unknown IDs beside one to adopt": {
			args:     []string{"file.File/fresh", "file.File/motd", "file.File/nobody", "--yes"},
			wantCode: 1,
			wantStdout: []string{
				"file.File/fresh: not adopted: already managed by converge (created): apply converges it",
				"file.File/nobody: not adopted: not declared in the manifests",
				"Adopted 1 object: file.File/motd.",
			},
			adopted: true,
		},
		"only a managed ID": {
			args:       []string{"file.File/fresh", "--yes"},
			wantCode:   1,
			wantStdout: []string{"file.File/fresh: not adopted: already managed by converge (created)"},
		},
		"only an unknown ID": {
			args:       []string{"file.Directory/motd"},
			wantCode:   1,
			wantStdout: []string{"file.Directory/motd: not adopted: not declared in the manifests"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := conflicted(t)
			r := cli(tc.stdin, append(append([]string{"adopt"}, tc.args...), e.globalArgs()...)...)
			if r.code != tc.wantCode {
				t.Errorf("adopt: got exit %d; want %d\n%s", r.code, tc.wantCode, r)
			}
			rest := r.stdout
			for _, want := range tc.wantStdout {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("adopt: stdout lacks %q (or has it out of order)\n%s", want, r)
					break
				}
				rest = rest[i+len(want):]
			}
			if tc.wantStderr != "" && !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("adopt: stderr lacks %q\n%s", tc.wantStderr, r)
			}
			motd, err := os.ReadFile(filepath.Join(e.root, "motd"))
			if err != nil {
				t.Fatal(err)
			}
			if string(motd) != "by hand\n" {
				t.Errorf("adopt changed the file: %q", motd)
			}

			a := e.run("apply")
			motd, err = os.ReadFile(filepath.Join(e.root, "motd"))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.adopted {
				if a.code != 1 || string(motd) != "by hand\n" || !strings.Contains(a.stdout, "not overwriting it") {
					t.Errorf("apply after no adoption: got %q, want the conflict kept\n%s", motd, a)
				}
				return
			}
			if a.code != 0 || string(motd) != "from the manifests\n" {
				t.Fatalf("apply after adopt: got motd %q; want the manifest's content\n%s", motd, a)
			}
			if strings.Contains(a.stdout+a.stderr, "not overwriting it") {
				t.Errorf("apply after adopt still reports a conflict\n%s", a)
			}
			var status struct {
				Resources []struct{ ID, Phase, Origin string }
			}
			s := e.mustRun(0, "status", "-o", "json")
			if err := json.Unmarshal([]byte(s.stdout), &status); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range status.Resources {
				got[r.ID] = r.Phase + " " + r.Origin
			}
			want := map[string]string{"file.File/motd": "Ready adopted", "file.File/fresh": "Ready created"}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("status after adopt and apply (-want +got):\n%s", d)
			}
			// Adopted, it is left in place when it leaves the manifests.
			e.write(map[string]string{"m.yaml": strings.SplitN(adoptYAML, "---\n", 2)[1]})
			e.mustRun(0, "apply", "--allow-delete")
			if _, err := os.Stat(filepath.Join(e.root, "motd")); err != nil {
				t.Errorf("an adopted file was deleted when it left the manifests: %v", err)
			}
		})
	}
}

// TestAdoptJSON: -o json prints what was done for each ID, and questions
// never reach stdout.
func TestAdoptJSON(t *testing.T) {
	e := conflicted(t)
	r := cli(answer("yes\n"), append([]string{"adopt", "file.File/motd", "file.File/fresh", "-o", "json"}, e.globalArgs()...)...)
	if r.code != 1 {
		t.Fatalf("got exit %d; want 1 (fresh is managed)\n%s", r.code, r)
	}
	var got []engine.Adoption
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	outcomes := map[string]engine.AdoptOutcome{}
	for _, a := range got {
		outcomes[a.ID] = a.Outcome
	}
	want := map[string]engine.AdoptOutcome{"file.File/motd": engine.AdoptDone, "file.File/fresh": engine.AdoptManaged}
	if d := cmp.Diff(want, outcomes); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	if !strings.Contains(r.stderr, "Adopt 1 object? [y/N]") {
		t.Errorf("the question is not on stderr\n%s", r)
	}
}
