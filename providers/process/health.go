package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/convergehq/converge/provider"
)

// checkHealth runs the health check of s for req's process once and
// returns "" when it passes (or there is none), otherwise what fails: the
// NotReady of an Observe or a Create. It notes the outcome for the prober
// of Notify.
func (p *Provider) checkHealth(ctx context.Context, req provider.Request, s spec) string {
	if s.health == nil {
		return ""
	}
	env, err := p.checkEnv(s)
	msg := ""
	if err != nil {
		msg = fmt.Sprintf("health check %s cannot run: %v", s.health, err)
	} else if err := s.health.check(ctx, env, s.dir); err != nil {
		msg = fmt.Sprintf("health check %s fails: %v", s.health, err)
	}
	p.mu.Lock()
	if t := p.procs[req.ID]; t != nil {
		t.reported = 1
		if msg != "" {
			t.reported = -1
		}
		t.spec = req.Spec
	}
	p.mu.Unlock()
	return msg
}

// check runs the check once, within its timeout.
func (h *health) check(ctx context.Context, env []string, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	switch h.kind {
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", h.addr)
		if err != nil {
			return errors.Unwrap(err) // without "dial tcp ADDR:", which the message names
		}
		return c.Close()
	case "http":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
		if err != nil {
			return err
		}
		client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			var ue interface{ Unwrap() error }
			if errors.As(err, &ue) && ue.Unwrap() != nil {
				return ue.Unwrap()
			}
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("answered %s", resp.Status)
		}
		return nil
	}
	path, err := lookPath(h.exec[0], envValue(env, "PATH"), dir)
	if err != nil {
		return errors.New(strings.Replace(err.Error(), "spec.command", "spec.health.exec", 1))
	}
	if dir == "" {
		dir = "/"
	}
	cmd := exec.CommandContext(ctx, path, h.exec[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("no answer within %s", h.timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 200 {
			msg = msg[len(msg)-200:]
		}
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
