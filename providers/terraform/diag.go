package terraform

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/convergehq/converge/provider"
)

// transient matches the error diagnostics of a failure that may pass: a
// timeout, a connection refused or reset, a server's 5xx or throttling.
var transient = regexp.MustCompile(`(?i)\b(timeout|timed out|temporar(y|ily)|connection (refused|reset)|broken pipe|try again|unavailable|(502|503|504)\b|bad gateway|gateway timeout|internal server error|deadline exceeded|no such host)`)

// throttled matches a diagnostic of a rate limit.
var throttled = regexp.MustCompile(`(?i)(rate.?limit|too many requests|throttl|\b429\b)`)

// diagError turns the error diagnostics of one call into one classified
// error, with every known secret redacted (diagnostics may echo values),
// and logs the warnings. It returns nil when there is no error diagnostic.
func (p *Provider) diagError(ctx context.Context, what string, diags []diagnostic) error {
	var msgs []string
	for _, d := range diags {
		text := p.redact.Redact(diagText(d))
		if !d.err {
			p.log.WarnContext(ctx, "provider warning", "call", what, "warning", text)
			continue
		}
		msgs = append(msgs, text)
	}
	if len(msgs) == 0 {
		return nil
	}
	msg := strings.Join(msgs, "; ")
	err := fmt.Errorf("%s: %s", what, msg)
	switch {
	case throttled.MatchString(msg):
		return provider.RateLimited(err, 0)
	case transient.MatchString(msg):
		return provider.Retryable(err)
	}
	return provider.Terminal(err)
}

// diagText is "summary: detail (spec.path)".
func diagText(d diagnostic) string {
	s := d.summary
	if d.detail != "" && d.detail != d.summary {
		if s != "" {
			s += ": "
		}
		s += d.detail
	}
	if p := pathString(d.path); p != "" {
		s += " (at spec." + p + ")"
	}
	return s
}

// errPluginGone says the plugin crashed or its connection broke.
var errPluginGone = errors.New("the plugin exited or its connection broke")

// transportError classifies an error of the gRPC call itself: the caller's
// context ending is retryable, anything else means the plugin is gone (it
// is restarted at the next call) and is retryable too, and ambiguous for a
// call that may have changed something.
func transportError(ctx context.Context, what string, err error, mutating bool) (error, bool) {
	if ctx.Err() != nil {
		e := fmt.Errorf("%s: %w", what, ctx.Err())
		if mutating {
			return provider.Ambiguous(e), false
		}
		return provider.Retryable(e), false
	}
	code := status.Code(err)
	// gRPC's message names the connection, never the values sent.
	e := fmt.Errorf("%s: %w (%s)", what, errPluginGone, status.Convert(err).Message())
	if code == codes.Unimplemented {
		return provider.Terminal(fmt.Errorf("%s: the plugin does not implement it", what)), false
	}
	if mutating {
		return provider.Ambiguous(e), true
	}
	return provider.Retryable(e), true
}
