package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/convergehq/converge/store/etcd/etcdtest"
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
//     number of lines and within a line for any text; times, durations
//     (0m5.043s as bash's time prints them too), ages, 12-digit hashes and
//     git's 40-digit commits match any such value; runs of spaces match
//     any run of spaces or tabs (tables align to their widths);
//   - other blocks are prose, unless a directive says otherwise.
//
// HTML comments give what a reader does by hand, unseen by readers:
//
//	<!-- test: dir /tmp/tour -->         the document's scratch directory (replaced by a temporary one)
//	<!-- test: background daemon -->     the next block's command runs in the background as "daemon"
//	<!-- test: stop daemon -->           Ctrl-C to "daemon", which must exit 0
//	<!-- test: sh COMMAND -->            a hidden step (an edit the prose describes)
//	<!-- test: until REGEXP -- COMMAND -->  COMMAND again and again (30 s at most) until its output matches
//	<!-- test: wait NAME REGEXP -->      wait (30 s at most) until what the background process NAME printed matches
//	<!-- test: skip -->                  the next block is not run
//	<!-- test: end -->                   nothing after it is run
//	<!-- test: file PATH -->             the next block is written to PATH (it shows a file)
//	<!-- test: file PATH                 the lines up to a line "-->" are written to PATH, unseen
//	     ...
//	-->
//	<!-- test: logs NAME -->             the next block shows lines that "NAME" prints, in that order
//	                                     (others may come between), after those the last logs of NAME
//	                                     showed; waits 30 s at most for them
//	<!-- test: port 9099 -->             9099 in commands and outputs is a free port of this run
//	<!-- test: needs python3 -->         the document's commands need python3 on the PATH
//	<!-- test: tf-plugins -->            the document needs Terraform's hashicorp/local: a plugin
//	                                     directory that holds it is $CONVERGE_TF_PLUGIN_DIR, given
//	                                     to the commands as $DOCS_TF_PLUGINS (the tests never
//	                                     download one: without it the document is skipped, saying so)
//	<!-- test: etcd 2379 -->             an etcd of this run's own (embedded) serves clients on 2379
//	                                     (a free port of this run, as for port)
//
// In a ```sh block, a line ending in " &" runs in the background, as the
// shell would, and an `export NAME=VALUE` line sets NAME for the commands
// after it. `go run ./cmd/cloudsim` is cloudsim, built once. A hidden
// `sh` step ending in " &" runs in the background too, and hidden steps
// find the repository at $DOCS_REPO.
//
// In a background command, NAME=VALUE words before the command are its
// environment (FAIL=2 python3 hook.py 9099). A background process whose
// Ctrl-C the document does not show is killed when the run ends.
var tourDocs = []string{"../../README.md", "../../docs/drift-and-rollback.md", "../../docs/cli.md", "../../docs/operations.md", "../../docs/api.md", "../../docs/providers/terraform.md"}

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
				r := &docRun{t: t, doc: doc, scratch: scratch, bin: bin, cwd: repoRoot(t), procs: map[string]*docProc{}, ports: map[string]string{},
					env: []string{"DOCS_REPO=" + repoRoot(t)}}
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

var (
	directive  = regexp.MustCompile(`^<!-- test: (\S+)\s*(.*?)\s*-->$`)
	hiddenFile = regexp.MustCompile(`^<!-- test: file (\S+)$`) // up to a line "-->"
)

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
		logs       bool   // the block shows what a background process prints
		hidden     bool   // in a hidden file's lines
		sc         = bufio.NewScanner(f)
		n          int
	)
	dir := ""
	for sc.Scan() {
		n++
		line := sc.Text()
		if hidden {
			if line == "-->" {
				hidden = false
				continue
			}
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
			continue
		}
		if fence == "" {
			if m := hiddenFile.FindStringSubmatch(line); m != nil {
				hidden = true
				steps = append(steps, docStep{line: n, kind: "file", arg: m[1]})
				continue
			}
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
				case "logs":
					logs = true
					steps = append(steps, docStep{line: n, kind: "logs", arg: m[2]})
				case "port":
					steps = append(steps, docStep{line: n, kind: "port", arg: m[2]})
				case "needs":
					steps = append(steps, docStep{line: n, kind: "needs", arg: m[2]})
				case "etcd":
					steps = append(steps, docStep{line: n, kind: "etcd", arg: m[2]})
				case "tf-plugins":
					steps = append(steps, docStep{line: n, kind: "tf-plugins"})
				case "background":
					background = m[2]
				case "stop":
					steps = append(steps, docStep{line: n, kind: "stop", arg: m[2]})
				case "sh":
					st := docStep{line: n, kind: "sh", cmd: m[2]}
					if strings.HasSuffix(st.cmd, " &") && !strings.HasSuffix(st.cmd, "&&") {
						st.cmd, st.inBack = strings.TrimSuffix(st.cmd, " &"), fmt.Sprintf("&%d", n)
					}
					steps = append(steps, st)
				case "wait":
					name, re, ok := strings.Cut(m[2], " ")
					if !ok {
						return nil, fmt.Errorf("%s:%d: wait NAME REGEXP", path, n)
					}
					steps = append(steps, docStep{line: n, kind: "wait", arg: name, cmd: re})
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
			fence, skip, background, file, logs = "", false, "", "", false
			continue
		}
		if file != "" || logs {
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
			bg := background
			if t := strings.TrimSpace(line); strings.HasSuffix(t, " &") && !strings.HasSuffix(t, "&&") {
				line, bg = strings.TrimSuffix(t, " &"), fmt.Sprintf("&%d", n) // the shell's own background
			}
			steps = append(steps, docStep{line: n, kind: "sh", cmd: line, inBack: bg})
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
	ports   map[string]string // the document's port -> this run's
	env     []string          // what the document exported
	etcds   []*embed.Etcd
}

type docProc struct {
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan error
	stopped bool // it exited after a stop step
	seen    int  // the lines of out that logs steps have shown
}

// expand rewrites a command of the document into one for this run.
func (r *docRun) expand(cmd string) string {
	if r.dir != "" {
		cmd = strings.ReplaceAll(cmd, r.dir, r.scratch)
	}
	cmd = r.withPorts(cmd)
	if m := goBuild.FindStringSubmatch(cmd); m != nil {
		return fmt.Sprintf("mkdir -p %s && cp %s %s", filepath.Dir(m[1]), binary, m[1])
	}
	if goInstall.MatchString(cmd) {
		return "true" // converge is installed: it is on the PATH
	}
	if strings.Contains(cmd, "go run ./cmd/cloudsim") {
		cmd = strings.ReplaceAll(cmd, "go run ./cmd/cloudsim", cloudsimBinary(r.t))
	}
	return strings.ReplaceAll(cmd, "go run ./cmd/converge", binary)
}

var (
	cloudsimOnce sync.Once
	cloudsimPath string
	cloudsimErr  error
)

// cloudsimBinary builds cmd/cloudsim once, beside the converge under test.
func cloudsimBinary(t *testing.T) string {
	cloudsimOnce.Do(func() {
		cloudsimPath = filepath.Join(filepath.Dir(binary), "cloudsim")
		out, err := exec.Command("go", "build", "-o", cloudsimPath, "../cloudsim").CombinedOutput()
		if err != nil {
			cloudsimErr = fmt.Errorf("build cloudsim: %v\n%s", err, out)
		}
	})
	if cloudsimErr != nil {
		t.Fatal(cloudsimErr)
	}
	return cloudsimPath
}

var (
	goBuild   = regexp.MustCompile(`^go build -o (\S+) \./cmd/converge$`)
	goInstall = regexp.MustCompile(`^go install \S*cmd/converge(@\S+)?$`)
)

// withPorts replaces the document's ports in s with this run's.
func (r *docRun) withPorts(s string) string {
	for doc, port := range r.ports {
		s = regexp.MustCompile(`\b`+regexp.QuoteMeta(doc)+`\b`).ReplaceAllLiteralString(s, port)
	}
	return s
}

func (r *docRun) where(s docStep) string { return fmt.Sprintf("%s:%d", filepath.Base(r.doc), s.line) }

// step runs s, and reports whether the run goes on.
func (r *docRun) step(s docStep) bool {
	t := r.t
	switch s.kind {
	case "dir":
		r.dir = s.arg
		return true
	case "port":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Errorf("%s: a free port: %v", r.where(s), err)
			return false
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		r.ports[s.arg] = port
		return true
	case "needs":
		if _, err := exec.LookPath(s.arg); err != nil {
			t.Errorf("%s: the document's commands need %s on the PATH: %v", r.where(s), s.arg, err)
			return false
		}
		return true
	case "logs":
		return r.logs(s)
	case "tf-plugins":
		dir := os.Getenv("CONVERGE_TF_PLUGIN_DIR")
		if dir == "" {
			t.Skipf("%s: the document runs Terraform's hashicorp/local provider: set CONVERGE_TF_PLUGIN_DIR to a plugin directory that holds it", r.where(s))
		}
		r.env = append(r.env, "DOCS_TF_PLUGINS="+dir)
		return true
	case "etcd":
		e, err := etcdtest.Start(t.TempDir(), nil)
		if err != nil {
			t.Errorf("%s: start etcd: %v", r.where(s), err)
			return false
		}
		r.etcds = append(r.etcds, e)
		_, port, _ := net.SplitHostPort(e.Clients[0].Addr().String())
		r.ports[s.arg] = port
		return true
	case "file":
		path := r.expand(s.arg)
		if !filepath.IsAbs(path) {
			path = filepath.Join(r.cwd, path)
		}
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			// The file is of the run's world: its paths and ports too.
			content := r.withPorts(strings.Join(s.want, "\n") + "\n")
			if r.dir != "" {
				content = strings.ReplaceAll(content, r.dir, r.scratch)
			}
			err = os.WriteFile(path, []byte(content), 0o644)
		}
		if err != nil {
			t.Errorf("%s: write %s: %v", r.where(s), s.arg, err)
			return false
		}
		return true
	case "stop":
		p := r.procs[s.arg]
		if p == nil || p.stopped {
			t.Errorf("%s: no background process %q", r.where(s), s.arg)
			return false
		}
		p.stopped = true
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
	case "wait":
		p := r.procs[s.arg]
		re, err := regexp.Compile(s.cmd)
		if p == nil || err != nil {
			t.Errorf("%s: wait %s %s: no such background process, or %v", r.where(s), s.arg, s.cmd, err)
			return false
		}
		for deadline := time.Now().Add(30 * time.Second); !re.MatchString(p.out.String()); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s: %s printed no match for %q within 30s:\n%s", r.where(s), s.arg, s.cmd, p.out)
				return false
			}
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
		if kv, ok := strings.CutPrefix(strings.TrimSpace(s.cmd), "export "); ok && strings.Contains(kv, "=") && !strings.ContainsAny(kv, ";&|") {
			// $NAME in the value is the shell's: the run's environment.
			env := map[string]string{}
			for _, e := range append(docEnv(r.scratch, r.bin), r.env...) {
				k, v, _ := strings.Cut(e, "=")
				env[k] = v
			}
			r.env = append(r.env, os.Expand(r.expand(kv), func(k string) string { return env[k] }))
			return true
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
		if strings.HasPrefix(strings.TrimSpace(s.cmd), "export ") && len(s.want) == 0 {
			s.kind = "sh"
			return r.step(s) // sets the variable for the commands after it
		}
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
		if err := matchLines(s.want, got, r.pattern); err != nil {
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
	c.Env = append(docEnv(r.scratch, r.bin), r.env...)
	var out syncBuffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	r.status = c.ProcessState.ExitCode()
	return out.String(), err
}

func (r *docRun) background(s docStep) bool {
	if p := r.procs[s.inBack]; p != nil && !p.stopped {
		r.t.Errorf("%s: %q is already running", r.where(s), s.inBack)
		return false
	}
	// cd DIR && COMMAND runs COMMAND in DIR; the shell stays where it is.
	cmd, dir := strings.TrimSpace(s.cmd), r.cwd
	if d, rest, ok := strings.Cut(strings.TrimPrefix(cmd, "cd "), " && "); ok && strings.HasPrefix(cmd, "cd ") && !strings.ContainsAny(d, ";&|") {
		if dir = r.expand(d); !filepath.IsAbs(dir) {
			dir = filepath.Join(r.cwd, dir)
		}
		cmd = rest
	}
	cmd = r.expand(cmd)
	// The command itself is exec'd, so that Ctrl-C reaches it; the
	// environment words go before exec.
	env := envWords.FindString(cmd)
	c := exec.Command("bash", "-c", env+"exec "+cmd[len(env):])
	c.Dir = dir
	c.Env = append(docEnv(r.scratch, r.bin), r.env...)
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

var envWords = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*=\S*\s+)*`)

// logs waits until the background process s.arg has printed the lines of
// s, in that order, after those the previous logs step of it showed.
func (r *docRun) logs(s docStep) bool {
	p := r.procs[s.arg]
	if p == nil {
		r.t.Errorf("%s: no background process %q", r.where(s), s.arg)
		return false
	}
	var want []*regexp.Regexp
	for _, w := range s.want {
		if strings.TrimSpace(w) != "..." {
			want = append(want, regexp.MustCompile("^"+r.pattern(w)+"$"))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		exited := false
		select {
		case err := <-p.done:
			p.done <- err // for stop and stopAll
			exited = true
		default:
		}
		out := p.out.String()
		lines := strings.Split(out, "\n")
		if !exited && !strings.HasSuffix(out, "\n") {
			lines = lines[:len(lines)-1] // a line still being written
		}
		i, j := 0, p.seen
		for ; i < len(want) && j < len(lines); j++ {
			if want[i].MatchString(strings.TrimRight(lines[j], " ")) {
				i++
			}
		}
		if i == len(want) {
			p.seen = j
			return true
		}
		if exited || time.Now().After(deadline) {
			k := 0
			for n := range s.want {
				if strings.TrimSpace(s.want[n]) != "..." {
					if k == i {
						r.t.Errorf("%s: %s printed no line %q after those shown before (%d lines)\n--- %s:\n%s", r.where(s), s.arg, s.want[n], p.seen, s.arg, out)
						break
					}
					k++
				}
			}
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
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
		if !p.stopped {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		delete(r.procs, name)
	}
	for _, e := range r.etcds {
		e.Close()
		<-e.Err()
	}
	r.etcds = nil
}

// docEnv is the environment of a document's commands: a reader's shell,
// with no colour and nothing of the test's own converge settings.
func docEnv(home, bin string) []string {
	// CONVERGE_LISTEN is empty: a daemon the documents start serves no
	// API, so it never waits for the default port, which another
	// process may hold.
	env := []string{"HOME=" + home, "NO_COLOR=1", "TERM=dumb", "LANG=C.UTF-8", "CONVERGE_LISTEN=", "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
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

// pattern is the regexp of one line the document shows, for this run.
func (r *docRun) pattern(w string) string {
	if r.dir != "" {
		w = strings.ReplaceAll(w, r.dir, "\x00")
	}
	return linePattern(r.withPorts(w), r.scratch)
}

// matchLines matches got against want, as the package comment says;
// pattern makes the regexp of a wanted line.
func matchLines(want, got []string, pattern func(string) string) error {
	res := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		if strings.TrimSpace(w) == "..." {
			continue
		}
		res[i] = regexp.MustCompile("^" + pattern(w) + "$")
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
	variable = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?|\b[0-9a-f]{12}\b|\b[0-9a-f]{40}\b|\b\d+m\d+(\.\d+)?s\b|\b\d+(\.\d+)?(ns|µs|ms|s|m|h|d)\b|\x00|\.\.\.| {2,}`)
)

var bashTime = regexp.MustCompile(`^\d+m\d+(\.\d+)?s$`) // 0m5.043s, as bash's time prints it

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
			b.WriteString(`[ \t]+`) // a table's padding, or the tab of time's report
		case (len(v) == 12 || len(v) == 40) && strings.Trim(v, "0123456789abcdef") == "":
			fmt.Fprintf(&b, `[0-9a-f]{%d}`, len(v))
		case strings.Contains(v, "-") && strings.Contains(v, ":"):
			b.WriteString(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
		case bashTime.MatchString(v):
			b.WriteString(`\d+m\d+(\.\d+)?s`)
		default:
			b.WriteString(`\d+(\.\d+)?(ns|µs|ms|s|m|h|d)`)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(w[last:]))
	return b.String()
}
