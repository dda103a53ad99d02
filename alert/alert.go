// Package alert delivers notifications of drift, failures and rollbacks to
// webhooks, without ever slowing reconciliation.
//
// Guarantees:
//   - Notify never blocks: alerts go to a bounded buffer per webhook; when
//     it is full the alert is dropped and counted.
//   - Each webhook gets its alerts in order, at most QPS per second (with
//     Burst), each retried with exponential backoff and full jitter until
//     MaxAttempts; an alert that cannot be delivered is counted and logged.
//   - Close waits for queued alerts until its context is done.
//   - An alert goes to its webhook's origin only: redirects are not
//     followed (a 3xx is a failed delivery), so neither the alert nor the
//     credentials of the webhook URL reach another host.
//   - Logs name a webhook by its scheme and host only: its password, path
//     and query (where services keep their tokens) are never logged.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/convergehq/converge/diff"
)

// Alert is the JSON payload posted to every webhook.
type Alert struct {
	Type     string    `json:"type"`   // drift, failure, rollback
	Reason   string    `json:"reason"` // DriftDetected, Failed, Conflict, RolledBack, ...
	Resource string    `json:"resource,omitempty"`
	Kind     string    `json:"kind,omitempty"`
	Message  string    `json:"message"`
	Diff     diff.Diff `json:"diff,omitempty"` // sensitive values masked
	Revision string    `json:"revision,omitempty"`
	Time     time.Time `json:"time"`
}

// Options configure a Notifier. Zero values take the defaults.
type Options struct {
	Client      *http.Client  // default: 10s timeout
	QPS         float64       // per webhook; default 5
	Burst       int           // default 10
	MaxAttempts int           // default 6
	BackoffBase time.Duration // default 500ms
	BackoffMax  time.Duration // default 30s
	Buffer      int           // alerts queued per webhook; default 1000
	Logger      *slog.Logger
}

// Stats counts what happened to alerts.
type Stats struct {
	Sent          int64 `json:"sent"`
	Retries       int64 `json:"retries"`
	Undeliverable int64 `json:"undeliverable"` // gave up after MaxAttempts
	Dropped       int64 `json:"dropped"`       // buffer full
}

// Notifier posts alerts to webhooks.
type Notifier struct {
	opts  Options
	hooks []*hook
	wg    sync.WaitGroup
	stop  context.CancelFunc
	ctx   context.Context

	mu     sync.RWMutex // guards closed and sends on the queues
	closed bool

	sent, retries, undeliverable, dropped atomic.Int64
}

type hook struct {
	url     string
	shown   string // what logs show of url: scheme and host
	queue   chan Alert
	limiter *rate.Limiter
}

// shownURL returns what a log may show of a webhook URL: its scheme and
// host, "/..." for the rest.
func shownURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(a webhook URL that does not parse)"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" || u.RawQuery != "" {
		out += "/..."
	}
	return out
}

// New starts a Notifier for urls; call Close when done. With no urls,
// Notify does nothing.
func New(urls []string, opts Options) *Notifier {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	c := *opts.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.Client = &c
	if opts.QPS <= 0 {
		opts.QPS = 5
	}
	if opts.Burst <= 0 {
		opts.Burst = 10
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 500 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{opts: opts, ctx: ctx, stop: cancel}
	for _, u := range urls {
		h := &hook{url: u, shown: shownURL(u), queue: make(chan Alert, opts.Buffer), limiter: rate.NewLimiter(rate.Limit(opts.QPS), opts.Burst)}
		n.hooks = append(n.hooks, h)
		n.wg.Add(1)
		go n.deliver(h)
	}
	return n
}

// Notify queues a for every webhook. It never blocks.
func (n *Notifier) Notify(a Alert) {
	if n == nil {
		return
	}
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	a.Diff = a.Diff.Masked()
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return
	}
	for _, h := range n.hooks {
		select {
		case h.queue <- a:
		default:
			n.dropped.Add(1)
			n.opts.Logger.Warn("alert dropped: webhook queue full", "webhook", h.shown, "reason", a.Reason, "resource", a.Resource)
		}
	}
}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Retries: n.retries.Load(), Undeliverable: n.undeliverable.Load(), Dropped: n.dropped.Load()}
}

// Close stops taking alerts and waits until the queued ones are delivered
// or given up, or ctx is done (then the rest are counted undeliverable).
func (n *Notifier) Close(ctx context.Context) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, h := range n.hooks {
			close(h.queue)
		}
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.stop()
		<-done
	}
	n.stop()
}

func (n *Notifier) deliver(h *hook) {
	defer n.wg.Done()
	for a := range h.queue {
		if n.ctx.Err() != nil {
			n.undeliverable.Add(1)
			continue
		}
		n.send(h, a)
	}
}

// send posts a to h, retrying with backoff.
func (n *Notifier) send(h *hook, a Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		n.undeliverable.Add(1)
		n.opts.Logger.Error("alert not encodable", "err", err)
		return
	}
	var last error
	for attempt := 0; attempt < n.opts.MaxAttempts; attempt++ {
		if attempt > 0 {
			n.retries.Add(1)
			ceil := n.opts.BackoffBase << (attempt - 1)
			if ceil > n.opts.BackoffMax || ceil <= 0 {
				ceil = n.opts.BackoffMax
			}
			if !sleep(n.ctx, time.Duration(rand.Float64()*float64(ceil))) {
				break
			}
		}
		if err := h.limiter.Wait(n.ctx); err != nil {
			last = err
			break
		}
		if last = n.post(h.url, body); last == nil {
			n.sent.Add(1)
			return
		}
	}
	n.undeliverable.Add(1)
	n.opts.Logger.Warn("alert undeliverable", "webhook", h.shown, "reason", a.Reason, "resource", a.Resource, "err", last)
}

func (n *Notifier) post(to string, body []byte) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.Client.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "converge-alert/1")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		// Not the URL: its path and query may hold the webhook's token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 3 {
		return fmt.Errorf("webhook answered %d, a redirect: not followed (configure the URL it redirects to)", resp.StatusCode)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
