package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
	"github.com/convergehq/converge/secret"
)

const (
	// maxResponse is the most of a response body that is read.
	maxResponse = 16 << 20
)

// response is a complete HTTP response.
type response struct {
	method string
	url    string // as messages show it
	status int
	header http.Header
	body   []byte
	red    *secret.Redactor // kept out of the server's messages
}

// shown is u as a message may show it: without the base URL's password.
func (p *Provider) shown(u string) string { return p.red.Redact(rest.URL(u)) }

// text makes text from the transport fit for a message: no password,
// printable.
func (p *Provider) text(s string) string { return rest.Printable(p.red.Redact(s)) }

// do sends one request (body JSON-encoded when non-nil, Idempotency-Key
// when idemKey is set) and reads the whole response. Transport failures
// (connection refused or reset, timeouts) are retryable; a redirect not
// followed (see Configure) is terminal. The status is not checked: see
// (*response).err.
func (p *Provider) do(ctx context.Context, method, u string, body any, idemKey string) (*response, error) {
	shown := p.shown(u)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, provider.Terminal(fmt.Errorf("%s %s: encode body: %s", method, shown, p.text(err.Error())))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("%s %s: %s", method, shown, p.text(rest.TransportMessage(err))))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, rest.ErrTooManyRedirects) {
			return nil, provider.Terminalf("%s %s: %s", method, shown, p.text(rest.TransportMessage(err)))
		}
		return nil, retry(method, 0, err, fmt.Errorf("%s %s: %s", method, shown, p.text(rest.TransportMessage(err))))
	}
	defer resp.Body.Close()
	if msg := rest.Redirect(resp, p.redirects.Policy()); msg != "" {
		return nil, provider.Terminalf("%s %s: %s: %s", method, shown, rest.StatusText(resp.StatusCode), p.red.Redact(msg))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, retry(method, 0, err, fmt.Errorf("%s %s: read response: %s", method, shown, p.text(rest.TransportMessage(err))))
	}
	return &response{method: method, url: shown, status: resp.StatusCode, header: resp.Header, body: b, red: p.red}, nil
}

// err classifies r: nil for 2xx; rate limited for 429 with its
// Retry-After; retryable for 5xx, 408 and 425; terminal for any other
// status, with the server's message.
func (r *response) err(now time.Time) error {
	if r.status >= 200 && r.status < 300 {
		return nil
	}
	err := r.plainErr()
	switch {
	case r.status == http.StatusTooManyRequests:
		return provider.RateLimited(err, rest.RetryAfter(r.header.Get("Retry-After"), now))
	case r.status >= 500, r.status == http.StatusRequestTimeout, r.status == http.StatusTooEarly:
		return retry(r.method, r.status, nil, err)
	}
	return provider.Terminal(err)
}

// retry classifies a retryable failure: ambiguous when it was a create the
// server may have carried out (see rest.MayHaveActed).
func retry(method string, status int, transport, err error) error {
	if method == http.MethodPost && rest.MayHaveActed(status, transport) {
		return provider.Ambiguous(err)
	}
	return provider.Retryable(err)
}

// plainErr describes r's status and the server's message, unclassified.
func (r *response) plainErr() error {
	return fmt.Errorf("%s %s: %s%s", r.method, r.url, rest.StatusText(r.status), serverMessage(r.body, r.red))
}

// decode parses r's body as JSON, numbers exact, in provider.Canonical
// form. A body that does not parse is terminal: the server does not speak
// the protocol this provider expects.
func (r *response) decode() (any, error) {
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, provider.Terminal(fmt.Errorf("%s %s: response is not JSON: %s", r.method, r.url, rest.Printable(err.Error())))
	}
	if dec.More() {
		return nil, provider.Terminal(fmt.Errorf("%s %s: trailing data after the JSON value", r.method, r.url))
	}
	return provider.Canonical(v), nil
}

// object decodes a response holding one JSON object with a string id.
func (r *response) object() (map[string]any, error) {
	v, err := r.decode()
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, provider.Terminal(fmt.Errorf("%s %s: response is not a JSON object", r.method, r.url))
	}
	if id, _ := obj["id"].(string); id == "" {
		return nil, provider.Terminal(fmt.Errorf("%s %s: the object has no id", r.method, r.url))
	}
	return obj, nil
}

// objects decodes a response holding a JSON array of objects (or an object
// with an items array).
func (r *response) objects() ([]map[string]any, error) {
	v, err := r.decode()
	if err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if env, isObj := v.(map[string]any); isObj {
		items, ok = env["items"].([]any)
	}
	if !ok {
		return nil, provider.Terminal(fmt.Errorf("%s %s: response is not a JSON array", r.method, r.url))
	}
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, provider.Terminal(fmt.Errorf("%s %s: list item is not a JSON object", r.method, r.url))
		}
		out = append(out, obj)
	}
	return out, nil
}

// serverMessage returns ": " and the server's explanation of an error,
// without red's secrets, printable, truncated; empty when the body says
// nothing.
func serverMessage(body []byte, red *secret.Redactor) string {
	if m := rest.Truncate(red.Redact(rest.Message(body))); m != "" {
		return ": " + m
	}
	return ""
}
