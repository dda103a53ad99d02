package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/engine"
)

// Progress of the commands that converge once (apply, destroy, rollback):
// on a terminal, one live line on stderr, redrawn in place; elsewhere, a
// "progress" log line every progressEvery. --progress auto|always|never.

// progressEvery is how often the progress is logged off a terminal.
var progressEvery = 10 * time.Second

// liveEvery is how often the live line is redrawn.
const liveEvery = 250 * time.Millisecond

// addProgressFlag registers --progress on cmd.
func addProgressFlag(cmd *cobra.Command, mode *string) {
	cmd.Flags().StringVar(mode, "progress", "auto", "show progress on stderr: auto (a live line on a terminal, a progress log line every 10s elsewhere), always (the live line even off a terminal) or never")
}

// progressMode returns whether to draw the live line and whether to log
// the progress, for --progress mode and stderr.
func progressMode(mode string, stderr io.Writer) (live, logged bool, err error) {
	switch mode {
	case "never":
		return false, false, nil
	case "always":
		return true, false, nil
	case "auto", "":
		f, ok := stderr.(*os.File)
		if ok && isTerminal(f) {
			return true, false, nil
		}
		return false, true, nil
	}
	return false, false, fmt.Errorf("--progress %q: must be auto, always or never", mode)
}

// progress shows what the engine is doing while it converges. As the
// writer of the logs (and of everything else the command writes on stderr
// meanwhile), it takes the live line away before each write and draws it
// again after, so that the line stays the last one.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	live    bool   // draw the line in place
	line    string // the line drawn, "" when none is
	destroy bool
	total   int // the most resources seen to converge
	start   time.Time
	stop    chan struct{}
	done    chan struct{}
}

// newProgress returns the progress of a command writing to stderr, or nil
// when none is shown (and then stderr is written to as it is).
func newProgress(mode string, stderr io.Writer, destroy bool) (*progress, bool, error) {
	live, logged, err := progressMode(mode, stderr)
	if err != nil || (!live && !logged) {
		return nil, false, err
	}
	return &progress{w: stderr, live: live, destroy: destroy}, logged, nil
}

// Write writes p under the live line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != "" {
		io.WriteString(p.w, "\r\x1b[K")
	}
	n, err := p.w.Write(b)
	if p.line != "" && (len(b) == 0 || b[len(b)-1] == '\n') {
		io.WriteString(p.w, p.line)
	}
	return n, err
}

// Start shows the engine's activity from now until Stop: the live line,
// or, with log set, a log line every progressEvery.
func (p *progress) Start(activity func() engine.Activity, log *slog.Logger) {
	p.start = time.Now()
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	every := liveEvery
	if log != nil {
		every = progressEvery
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		if log == nil {
			p.draw(activity())
		}
		for {
			select {
			case <-p.stop:
				if log == nil {
					p.draw(activity()) // where it ended, then away
					p.clear()
				}
				return
			case <-t.C:
				a := activity()
				if log != nil {
					log.Info("progress", p.attrs(a, time.Since(p.start))...)
				} else {
					p.draw(a)
				}
			}
		}
	}()
}

// Stop ends what Start started and takes the live line away.
func (p *progress) Stop() {
	if p == nil || p.stop == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.stop = nil
}

func (p *progress) draw(a engine.Activity) {
	s := p.render(a, time.Since(p.start))
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, "\r\x1b[K"+s)
	p.line = s
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != "" {
		io.WriteString(p.w, "\r\x1b[K")
		p.line = ""
	}
}

// done counts what is done and how much there is: Ready resources of the
// total, or, for a destroy, what was deleted of the most there were.
func (p *progress) count(a engine.Activity) (done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = max(p.total, a.Total)
	if p.destroy {
		return p.total - a.Total, p.total
	}
	return a.Ready, a.Total
}

// render is the live line: "3/10 ready, 2 creating, 1 updating, 0
// deleting, 1 failed, 12s; slowest: file.File/big create 8s".
func (p *progress) render(a engine.Activity, elapsed time.Duration) string {
	done, total := p.count(a)
	word := "ready"
	if p.destroy {
		word = "deleted"
	}
	var b strings.Builder
	if total == 0 && !p.destroy {
		fmt.Fprintf(&b, "starting, %s", seconds(elapsed))
		return b.String()
	}
	fmt.Fprintf(&b, "%d/%d %s, %d creating, %d updating, %d deleting", done, total, word, a.Creating, a.Updating, a.Deleting)
	if a.Provisioning > 0 {
		fmt.Fprintf(&b, ", %d accepted, provisioning", a.Provisioning)
	}
	fmt.Fprintf(&b, ", %d failed, %s", a.Failed, seconds(elapsed))
	if c := a.Slowest; c != nil {
		fmt.Fprintf(&b, "; slowest: %s %s %s", c.ID, c.Op, seconds(time.Since(c.Since)))
	}
	return b.String()
}

// attrs are the progress log line's.
func (p *progress) attrs(a engine.Activity, elapsed time.Duration) []any {
	done, total := p.count(a)
	key := "ready"
	if p.destroy {
		key = "deleted"
	}
	attrs := []any{key, done, "total", total, "creating", a.Creating, "updating", a.Updating, "deleting", a.Deleting,
		"provisioning", a.Provisioning, "failed", a.Failed, "elapsed", seconds(elapsed)}
	if c := a.Slowest; c != nil {
		attrs = append(attrs, "slowest", c.ID, "slowest_op", string(c.Op), "slowest_for", seconds(time.Since(c.Since)))
	}
	return attrs
}

// seconds rounds d to the second (to the tenth under ten seconds).
func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
