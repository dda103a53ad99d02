package httpprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
)

const (
	// maxResponse is the most of a response body that is read.
	maxResponse = 16 << 20
)

// call is one HTTP request.
type call struct {
	method  string
	url     string
	body    any               // JSON-encoded when non-nil
	headers map[string]string // expanded
	secrets []string          // scrubbed from every message
	idemKey string            // Idempotency-Key header, when non-empty
}

// response is a complete HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// hostGate keeps, per host, the time before which no request may be sent
// (a 429's Retry-After).
type hostGate struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// wait returns how long host is still paused at now (zero: not paused).
func (g *hostGate) wait(host string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, ok := g.until[host]
	if !ok {
		return 0
	}
	if !now.Before(u) {
		delete(g.until, host)
		return 0
	}
	return u.Sub(now)
}

// pause makes host wait until t, unless it already waits longer.
func (g *hostGate) pause(host string, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.until == nil {
		g.until = map[string]time.Time{}
	}
	if t.After(g.until[host]) {
		g.until[host] = t
	}
}

// do sends c and reads the whole response. Transport failures (connection
// refused, reset, timeouts) are retryable; a host paused by a 429 fails
// fast, rate limited, without sending anything. The status is not checked:
// see statusError.
func (p *Provider) do(ctx context.Context, c call) (*response, error) {
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("%s %s: %w", c.method, c.url, err))
	}
	if wait := p.gate.wait(u.Host, p.now()); wait > 0 {
		return nil, provider.RateLimited(fmt.Errorf("%s %s: host %s rate limited us: waiting %s more before calling it again", c.method, c.url, u.Host, wait.Round(time.Millisecond)), wait)
	}
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, provider.Terminal(fmt.Errorf("%s %s: encode body: %w", c.method, c.url, err))
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("%s %s: %w", c.method, c.url, err))
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.idemKey != "" {
		req.Header.Set("Idempotency-Key", c.idemKey)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, retry(c.method, 0, err, fmt.Errorf("%s %s: %s", c.method, c.url, scrub(transportMessage(err), c.secrets)))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, retry(c.method, 0, err, fmt.Errorf("%s %s: read response: %s", c.method, c.url, scrub(transportMessage(err), c.secrets)))
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportMessage describes a transport error without repeating the URL
// (the caller names it) and says plainly when it was a timeout.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "canceled: " + err.Error()
	}
	return err.Error()
}

// statusError classifies a response: nil for 2xx; rate limited for 429
// (pausing the host for its Retry-After); retryable for 5xx, 408 and 425;
// terminal for any other status, with the server's message.
func (p *Provider) statusError(c call, r *response) error {
	if r.status >= 200 && r.status < 300 {
		return nil
	}
	err := fmt.Errorf("%s %s: %s%s", c.method, c.url, rest.StatusText(r.status), serverMessage(r, c.secrets))
	switch {
	case r.status == http.StatusTooManyRequests:
		now := p.now()
		after := rest.RetryAfter(r.header.Get("Retry-After"), now)
		if after > 0 {
			if u, perr := url.Parse(c.url); perr == nil {
				p.gate.pause(u.Host, now.Add(after))
			}
		}
		return provider.RateLimited(err, after)
	case r.status >= 500, r.status == http.StatusRequestTimeout, r.status == http.StatusTooEarly:
		return retry(c.method, r.status, nil, err)
	}
	return provider.Terminal(err)
}

// scrub replaces every secret in s with "(sensitive)". Secrets shorter than
// 3 bytes are left alone: replacing them would mangle the message and hide
// nothing.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, "(sensitive)")
		}
	}
	return s
}

// decodeJSON decodes a response body keeping numbers exact, in canonical
// form. An empty body is nil.
func decodeJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return provider.Canonical(v), nil
}

// serverMessage returns ": " and the server's explanation of an error,
// with secrets scrubbed, truncated; empty when the body says nothing.
func serverMessage(r *response, secrets []string) string {
	if m := rest.Truncate(scrub(rest.Message(r.body), secrets)); m != "" {
		return ": " + m
	}
	return ""
}

// retry classifies a retryable failure: ambiguous when it was a create the
// server may have carried out (see rest.MayHaveActed).
func retry(method string, status int, transport, err error) error {
	if method == http.MethodPost && rest.MayHaveActed(status, transport) {
		return provider.Ambiguous(err)
	}
	return provider.Retryable(err)
}
