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
	"sync"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
	"github.com/convergehq/converge/secret"
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
	red     *secret.Redactor  // what no message may show
	idemKey string            // Idempotency-Key header, when non-empty
}

// where is "METHOD URL" as a message may show it: the URL without its
// password or any secret.
func (c call) where() string {
	return c.method + " " + c.red.Redact(rest.URL(c.url))
}

// text makes text from the outside (a server, the transport) fit for a
// message: secrets redacted, made printable.
func (c call) text(s string) string { return rest.Printable(c.red.Redact(s)) }

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
		return nil, provider.Terminalf("%s: invalid URL", c.where())
	}
	if wait := p.gate.wait(u.Host, p.now()); wait > 0 {
		return nil, provider.RateLimited(fmt.Errorf("%s: host %s rate limited us: waiting %s more before calling it again", c.where(), u.Host, wait.Round(time.Millisecond)), wait)
	}
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, provider.Terminal(fmt.Errorf("%s: encode body: %s", c.where(), c.text(err.Error())))
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("%s: %s", c.where(), c.text(rest.TransportMessage(err))))
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
		if errors.Is(err, rest.ErrTooManyRedirects) {
			return nil, provider.Terminalf("%s: %s", c.where(), c.text(rest.TransportMessage(err)))
		}
		return nil, retry(c.method, 0, err, fmt.Errorf("%s: %s", c.where(), c.text(rest.TransportMessage(err))))
	}
	defer resp.Body.Close()
	if msg := rest.Redirect(resp, p.Policy()); msg != "" {
		return nil, provider.Terminalf("%s: %s: %s", c.where(), rest.StatusText(resp.StatusCode), c.red.Redact(msg))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, retry(c.method, 0, err, fmt.Errorf("%s: read response: %s", c.where(), c.text(rest.TransportMessage(err))))
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// statusError classifies a response: nil for 2xx; rate limited for 429
// (pausing the host for its Retry-After); retryable for 5xx, 408 and 425;
// terminal for any other status, with the server's message.
func (p *Provider) statusError(c call, r *response) error {
	if r.status >= 200 && r.status < 300 {
		return nil
	}
	err := fmt.Errorf("%s: %s%s", c.where(), rest.StatusText(r.status), serverMessage(r, c.red))
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
// with secrets redacted in every form it may echo them in, printable,
// truncated; empty when the body says nothing.
func serverMessage(r *response, red *secret.Redactor) string {
	if m := rest.Truncate(red.Redact(rest.Message(r.body))); m != "" {
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
