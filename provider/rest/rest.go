// Package rest holds what providers of JSON REST APIs share: reading a
// Retry-After, describing an HTTP answer, the server's explanation of an
// error and a transport error, and an HTTP client sized for the engine's concurrency. Providers
// classify answers themselves (their APIs differ); this package only reads
// them.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxRetryAfter caps a server's Retry-After, so that a bogus value
	// cannot stop a provider for days.
	MaxRetryAfter = time.Hour
	// MaxMessage is the longest server message put in an error.
	MaxMessage = 300
)

// NewClient returns an HTTP client that keeps enough idle connections per
// host for the calls the engine runs at once (its in-flight cap decides the
// concurrency): with the standard two, most calls would dial anew.
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t}
}

// StatusText returns "404 Not Found" for 404.
func StatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// RetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
// Anything else, and a time already past, is zero (the engine chooses the
// pause). The result is capped at MaxRetryAfter.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// Message returns the server's explanation of an error: the "error",
// "message", "detail" or "title" field of a JSON object (or those of a
// nested "error" object), else the body as text, with runs of white space
// folded and made Printable: no control character or escape sequence the
// server sent survives. It is not truncated: see Truncate.
func Message(body []byte) string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		if m := messageOf(obj); m != "" {
			return Printable(strings.Join(strings.Fields(m), " "))
		}
	}
	if LooksJSON(body) {
		return ""
	}
	return Printable(strings.Join(strings.Fields(string(body)), " "))
}

func messageOf(obj map[string]any) string {
	for _, k := range []string{"error", "message", "detail", "title"} {
		switch v := obj[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case map[string]any:
			if m := messageOf(v); m != "" {
				return m
			}
		}
	}
	return ""
}

// Truncate makes msg Printable and cuts it to MaxMessage bytes (on a rune
// boundary), marking the cut with "...".
func Truncate(msg string) string {
	msg = Printable(msg)
	if len(msg) > MaxMessage {
		return strings.ToValidUTF8(msg[:MaxMessage], "") + "..."
	}
	return msg
}

// LooksJSON reports whether b starts like a JSON object or array.
func LooksJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// MayHaveActed reports whether a failed call may still have been carried
// out by the server: an answer 500, 502 or 504, or a transport error after
// the request may have gone out (anything but a refused or failed
// connection). A 503, a 429 and other answers say it was not.
func MayHaveActed(status int, transport error) bool {
	if transport != nil {
		var op *net.OpError
		if errors.As(transport, &op) && op.Op == "dial" {
			return false
		}
		return true
	}
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// TransportMessage describes a transport error (no answer, or none read)
// without repeating the URL, which the caller names, and says plainly
// when it was a timeout or a cancellation.
func TransportMessage(err error) string {
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
