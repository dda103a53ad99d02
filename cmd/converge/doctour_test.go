package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The documents whose commands are run, in order, each in a scratch
// directory of its own. What they print must match what they show: a
// changed output fails until the document follows.
//
// A document is read as a script:
//
//   - a ```sh block is run, line by line, with the converge under test
//     installed as `converge` on the PATH (`go build -o PATH ./cmd/converge`
//     copies it there, `go run ./cmd/converge` is it, `go install` of it
//     does nothing);
//   - a ```console block is run too, and every `$ COMMAND` must print the
//     lines that follow it. In those lines, "..." alone stands for any
//     number of lines and within a line for any text; times, durations,
//     ages and 12-digit hashes match any such value; runs of spaces match
//     any run of spaces (tables align to their widths);
//   - other blocks are prose.
//
// HTML comments give what a reader does by hand, unseen by readers:
//
//	<!-- test: dir /tmp/tour -->         the document's scratch directory (replaced by a temporary one)
//	<!-- test: background daemon -->     the next block's command runs in the background as "daemon"
//	<!-- test: stop daemon -->           Ctrl-C to "daemon", which must exit 0
//	<!-- test: sh COMMAND -->            a hidden step (an edit the prose describes)
//	<!-- test: until REGEXP -- COMMAND -->  COMMAND again and again (30 s at most) until its output matches
//	<!-- test: skip -->                  the next block is not run
//	<!-- test: end -->                   nothing after it is run
//	<!-- test: file PATH -->             the next block is written to PATH (it shows a file)
var tourDocs = []string{"../../README.md", "../../docs/drift-and-rollback.md"}

func TestDocsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the documents' commands")
	}
	for _, doc := range tourDocs {
		t.Run(filepath.Base(doc), func(t *testing.T) {
			steps, err := parseDoc(doc)
			if err != nil {
				t.Fatal(err)
			}
			// Twice in a row, as a reader may: the second run starts from
			// what the first left.
			scratch, bin := t.TempDir(), t.TempDir()
			if err := os.Symlink(binary, filepath.Join(bin, "converge")); err != nil {
				t.Fatal(err)
			}
			for round := 1; round <= 2; round++ {
				r := &docRun{t: t, doc: doc, scratch: scratch, bin: bin, cwd: repoRoot(t), procs: map[string]*docProc{}}
				for _, s := range steps {
					if !r.step(s) {
						break
					}
				}
				r.stopAll()
				if t.Failed() {
					t.Fatalf("round %d failed", round)
				}
			}
		})
	}
}

// docStep is one thing a document says to do.
type docStep struct {
	line   int // where the document says it
	kind   string
	cmd    string
	want   []string // console: the lines the command prints
	arg    string   // directive argument (a name, a regexp)
	inBack string   // sh: run in the background under this name
}

var directive = regexp.MustCompile(`^<!-- test: (\S+)\s*(.*?)\s*-->$`)

// parseDoc reads the steps of a document.
func parseDoc(path string) ([]docStep, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		steps      []docStep
		fence      string // the block's info string; "" outside blocks
		skip       bool
		background string
		file       string // the block is this file's content
		sc         = bufio.NewScanner(f)
		n          int
	)
	dir := ""
	for sc.Scan() {
		n++
		line := sc.Text()
		if fence == "" {
			if m := directive.FindStringSubmatch(line); m != nil {
				switch m[1] {
				case "dir":
					dir = m[2]
					steps = append(steps, docStep{line: n, kind: "dir", arg: m[2]})
				case "skip":
					skip = true
				case "file":
					file = m[2]
					steps = append(steps, docStep{line: n, kind: "file", arg: m[2]})
				case "end":
					return steps, nil
				case "background":
					background = m[2]
				case "stop":
					steps = append(steps, docStep{line: n, kind: "stop", arg: m[2]})
				case "sh":
					steps = append(steps, docStep{line: n, kind: "sh", cmd: m[2]})
				case "until":
					re, cmd, ok := strings.Cut(m[2], " -- ")
					if !ok {
						return nil, fmt.Errorf("%s:%d: until REGEXP -- COMMAND", path, n)
					}
					steps = append(steps, docStep{line: n, kind: "until", arg: re, cmd: cmd})
				default:
					return nil, fmt.Errorf("%s:%d: unknown test directive %q", path, n, m[1])
				}
				continue
			}
			if strings.HasPrefix(line, "```") {
				fence = strings.TrimPrefix(line, "```")
				if fence == "" {
					fence = "plain"
				}
			}
			continue
		}
		if line == "```" {
			fence, skip, background, file = "", false, "", ""
			continue
		}
		if file != "" {
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
			continue
		}
		if skip || dir == "" {
			continue // a document without a dir directive is not run
		}
		switch fence {
		case "sh":
			if strings.TrimSpace(line) == "" {
				continue
			}
			if k := len(steps) - 1; k >= 0 && steps[k].kind == "sh" && strings.HasSuffix(steps[k].cmd, "\\") {
				steps[k].cmd = strings.TrimSuffix(steps[k].cmd, "\\") + strings.TrimSpace(line) // a continued line
				continue
			}
			steps = append(steps, docStep{line: n, kind: "sh", cmd: line, inBack: background})
		case "console":
			if cmd, ok := strings.CutPrefix(line, "$ "); ok {
				steps = append(steps, docStep{line: n, kind: "console", cmd: cmd})
				continue
			}
			if len(steps) == 0 || steps[len(steps)-1].kind != "console" {
				return nil, fmt.Errorf("%s:%d: output before any command", path, n)
			}
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	return steps, sc.Err()
}

// docRun runs one document's steps.
type docRun struct {
	t       *testing.T
	doc     string
	scratch string
	dir     string // the document's name for scratch
	bin     string // holds "converge": the converge under test, as installed
	cwd     string
	status  int // the last command's exit status, for the next one's $?
	procs   map[string]*docProc
}

type docProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// expand rewrites a command of the document into one for this run.
func (r *docRun) expand(cmd string) string {
	if r.dir != "" {
		cmd = strings.ReplaceAll(cmd, r.dir, r.scratch)
	}
	if m := goBuild.FindStringSubmatch(cmd); m != nil {
		return fmt.Sprintf("mkdir -p %s && cp %s %s", filepath.Dir(m[1]), binary, m[1])
	}
	if goInstall.MatchString(cmd) {
		return "true" // converge is installed: it is on the PATH
	}
	return strings.ReplaceAll(cmd, "go run ./cmd/converge", binary)
}

var (
	goBuild   = regexp.MustCompile(`^go build -o (\S+) \./cmd/converge$`)
	goInstall = regexp.MustCompile(`^go install \S*cmd/converge(@\S+)?$`)
)

func (r *docRun) where(s docStep) string { return fmt.Sprintf("%s:%d", filepath.Base(r.doc), s.line) }

// step runs s, and reports whether the run goes on.
func (r *docRun) step(s docStep) bool {
	t := r.t
	switch s.kind {
	case "dir":
		r.dir = s.arg
		return true
	case "file":
		path := r.expand(s.arg)
		if !filepath.IsAbs(path) {
			path = filepath.Join(r.cwd, path)
		}
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, []byte(strings.Join(s.want, "\n")+"\n"), 0o644)
		}
		if err != nil {
			t.Errorf("%s: write %s: %v", r.where(s), s.arg, err)
			return false
		}
		return true
	case "stop":
		p := r.procs[s.arg]
		if p == nil {
			t.Errorf("%s: no background process %q", r.where(s), s.arg)
			return false
		}
		delete(r.procs, s.arg)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("%s: %s exited with %v after Ctrl-C:\n%s", r.where(s), s.arg, err, p.out)
				return false
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s: %s did not stop within 30s of Ctrl-C:\n%s", r.where(s), s.arg, p.out)
			return false
		}
		return true
	case "until":
		re, err := regexp.Compile(s.arg)
		if err != nil {
			t.Errorf("%s: %v", r.where(s), err)
			return false
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, _ := r.shell(s.cmd)
			if re.MatchString(out) {
				return true
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %s printed no match for %q within 30s; last:\n%s%s", r.where(s), s.cmd, s.arg, out, r.backgroundLogs())
				return false
			}
			time.Sleep(200 * time.Millisecond)
		}
	case "sh":
		if s.inBack != "" {
			return r.background(s)
		}
		if dir, ok := strings.CutPrefix(strings.TrimSpace(s.cmd), "cd "); ok {
			dir, rest, _ := strings.Cut(dir, " && ") // cd DIR && COMMAND: the shell stays in DIR
			if !strings.ContainsAny(dir, ";&|") {
				d := r.expand(dir)
				if !filepath.IsAbs(d) {
					d = filepath.Join(r.cwd, d)
				}
				r.cwd = d
				if rest == "" {
					return true
				}
				s.cmd = rest
			}
		}
		if out, err := r.shell(s.cmd); err != nil {
			t.Errorf("%s: %s: %v\n%s", r.where(s), s.cmd, err, out)
			return false
		}
		return true
	case "console":
		if dir, ok := strings.CutPrefix(strings.TrimSpace(s.cmd), "cd "); ok && !strings.ContainsAny(dir, ";&|") {
			d := r.expand(dir)
			if !filepath.IsAbs(d) {
				d = filepath.Join(r.cwd, d)
			}
			r.cwd = d
			return true
		}
		out, _ := r.shell(s.cmd) // the exit status is what the document shows, if anything
		var got []string
		if out != "" {
			got = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		}
		if err := matchLines(s.want, got, r.dir, r.scratch); err != nil {
			t.Errorf("%s: $ %s\n%v\n--- printed:\n%s%s", r.where(s), s.cmd, err, out, r.backgroundLogs())
			return false
		}
		return true
	}
	t.Errorf("%s: unknown step %q", r.where(s), s.kind)
	return false
}

// shell runs cmd with bash in the run's directory, and returns what it
// printed, stdout and stderr together as a terminal shows them.
func (r *docRun) shell(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-c", fmt.Sprintf("(exit %d); %s", r.status, r.expand(cmd)))
	c.Dir = r.cwd
	c.Env = docEnv(r.scratch, r.bin)
	var out syncBuffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	r.status = c.ProcessState.ExitCode()
	return out.String(), err
}

func (r *docRun) background(s docStep) bool {
	c := exec.Command("bash", "-c", "exec "+r.expand(strings.TrimPrefix(strings.TrimSpace(s.cmd), "cd "+r.dir+" && ")))
	c.Dir = r.cwd
	c.Env = docEnv(r.scratch, r.bin)
	p := &docProc{cmd: c, out: &syncBuffer{}, done: make(chan error, 1)}
	c.Stdout, c.Stderr = p.out, p.out
	if err := c.Start(); err != nil {
		r.t.Errorf("%s: start %s: %v", r.where(s), s.cmd, err)
		return false
	}
	go func() { p.done <- c.Wait() }()
	r.procs[s.inBack] = p
	return true
}

func (r *docRun) backgroundLogs() string {
	var b strings.Builder
	for name, p := range r.procs {
		fmt.Fprintf(&b, "\n--- %s:\n%s", name, p.out)
	}
	return b.String()
}

func (r *docRun) stopAll() {
	for name, p := range r.procs {
		_ = p.cmd.Process.Kill()
		<-p.done
		delete(r.procs, name)
	}
}

// docEnv is the environment of a document's commands: a reader's shell,
// with no colour and nothing of the test's own converge settings.
func docEnv(home, bin string) []string {
	env := []string{"HOME=" + home, "NO_COLOR=1", "TERM=dumb", "LANG=C.UTF-8", "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=Doc", "GIT_AUTHOR_EMAIL=doc@example.com", "GIT_COMMITTER_NAME=Doc", "GIT_COMMITTER_EMAIL=doc@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME" || k == "TERM" || k == "NO_COLOR" || k == "LANG" || k == "PATH" || strings.HasPrefix(k, "CONVERGE_") || strings.HasPrefix(k, "GIT_"):
		default:
			env = append(env, kv)
		}
	}
	return env
}

func repoRoot(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// matchLines matches got against want, as the package comment says.
func matchLines(want, got []string, docDir, scratch string) error {
	res := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		if strings.TrimSpace(w) == "..." {
			continue
		}
		if docDir != "" {
			w = strings.ReplaceAll(w, docDir, "\x00")
		}
		res[i] = regexp.MustCompile("^" + linePattern(w, scratch) + "$")
	}
	// i in want, j in got; a "..." line may take any number of lines.
	var match func(i, j int) bool
	memo := map[[2]int]bool{}
	match = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var ok bool
		switch {
		case i == len(want):
			ok = j == len(got)
		case res[i] == nil:
			ok = match(i+1, j) || (j < len(got) && match(i, j+1))
		default:
			ok = j < len(got) && res[i].MatchString(strings.TrimRight(got[j], " ")) && match(i+1, j+1)
		}
		memo[k] = ok
		return ok
	}
	if match(0, 0) {
		return nil
	}
	// Say where it parts: the first wanted line no prefix of got matches.
	j := 0
	for i, re := range res {
		if re == nil {
			continue
		}
		for j < len(got) && !re.MatchString(strings.TrimRight(got[j], " ")) {
			j++
		}
		if j == len(got) {
			return fmt.Errorf("--- want line %d: %s", i+1, want[i])
		}
		j++
	}
	return fmt.Errorf("--- want %d lines, in that order (no line missing, none extra):\n%s", len(want), strings.Join(want, "\n"))
}

// The values that change from run to run, as written in documents.
var (
	variable = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?|\b[0-9a-f]{12}\b|\b\d+(\.\d+)?(ns|µs|ms|s|m|h|d)\b|\x00|\.\.\.| {2,}`)
)

// linePattern is the regexp of one wanted line.
func linePattern(w, scratch string) string {
	var b strings.Builder
	last := 0
	for _, m := range variable.FindAllStringIndex(w, -1) {
		b.WriteString(regexp.QuoteMeta(w[last:m[0]]))
		v := w[m[0]:m[1]]
		switch {
		case v == "\x00":
			b.WriteString(regexp.QuoteMeta(scratch))
		case v == "...":
			b.WriteString(".*")
		case strings.TrimLeft(v, " ") == "":
			b.WriteString(" +")
		case len(v) == 12 && strings.Trim(v, "0123456789abcdef") == "":
			b.WriteString(`[0-9a-f]{12}`)
		case strings.Contains(v, "-") && strings.Contains(v, ":"):
			b.WriteString(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
		default:
			b.WriteString(`\d+(\.\d+)?(ns|µs|ms|s|m|h|d)`)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(w[last:]))
	return b.String()
}
