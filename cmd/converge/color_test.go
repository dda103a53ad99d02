package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestUseColor(t *testing.T) {
	tests := map[string]struct {
		mode     string
		terminal bool
		env      map[string]string
		want     bool
		wantErr  bool
	}{
		"auto on a terminal":             {mode: "auto", terminal: true, want: true},
		"auto off a terminal":            {mode: "auto"},
		"auto, NO_COLOR":                 {mode: "auto", terminal: true, env: map[string]string{"NO_COLOR": "1"}},
		"auto, NO_COLOR empty":           {mode: "auto", terminal: true, env: map[string]string{"NO_COLOR": ""}, want: true},
		"auto, TERM=dumb":                {mode: "auto", terminal: true, env: map[string]string{"TERM": "dumb"}},
		"always off a terminal":          {mode: "always", want: true},
		"always wins over NO_COLOR":      {mode: "always", env: map[string]string{"NO_COLOR": "1"}, want: true},
		"never on a terminal":            {mode: "never", terminal: true},
		"another word":                   {mode: "yes", terminal: true, wantErr: true},
		"unset (a command made by hand)": {mode: "", terminal: true, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := useColor(tc.mode, tc.terminal, func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestColorOutput: --color always paints plan markers and phases (and the
// tables stay aligned); never, and auto off a terminal (here: a buffer),
// print no escape sequence at all.
func TestColorOutput(t *testing.T) {
	e := applied(t)
	e.write(map[string]string{"site.yaml": changedSiteYAML})
	e.remove("old.yaml")
	ages := regexp.MustCompile(`\b\d+[smhd]\b`)
	tests := map[string]struct {
		args []string
		want []string // with --color always
	}{
		"plan": {args: []string{"plan"}, want: []string{
			"  \x1b[32m+\x1b[0m file.File/new ", "  \x1b[33m~\x1b[0m file.File/index ",
			"  \x1b[31m-/+\x1b[0m file.File/keep ", "  \x1b[31m-\x1b[0m file.File/old ",
		}},
		"status": {args: []string{"status"}, want: []string{"\x1b[32mReady\x1b[0m", "\x1b[39mPHASE\x1b[0m"}},
		"get":    {args: []string{"get", "file.File/index"}, want: []string{"file.File/index: \x1b[32mReady\x1b[0m, created"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			always := e.mustRun(0, append(tc.args, "--color", "always")...)
			for _, w := range tc.want {
				if !strings.Contains(always.stdout, w) {
					t.Errorf("--color always: got %q; want it to contain %q", always.stdout, w)
				}
			}
			never := e.mustRun(0, append(tc.args, "--color", "never")...)
			auto := e.mustRun(0, tc.args...)
			for what, r := range map[string]result{"never": never, "auto off a terminal": auto} {
				if strings.Contains(r.stdout+r.stderr, "\x1b") {
					t.Errorf("%s: got %q; want no escape sequence", what, r.stdout)
				}
			}
			if got, want := ages.ReplaceAllString(ansi.ReplaceAllString(always.stdout, ""), "AGE"), ages.ReplaceAllString(never.stdout, "AGE"); got != want {
				t.Errorf("--color always, without its colours, differs from --color never:\n%s\n%s", got, want)
			}
		})
	}
	if r := e.run("status", "--color", "yes"); r.code != 1 || !strings.Contains(r.stderr, `error: --color "yes": must be auto, always or never`) {
		t.Errorf("--color yes: got %s; want exit 1 naming the values", r)
	}
}
