package rest

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/convergehq/converge/provider"
)

// MaxRedirects is how many redirects one call follows at most, when it
// follows any.
const MaxRedirects = 10

// ErrTooManyRedirects is the error of a call that was redirected more than
// MaxRedirects times.
var ErrTooManyRedirects = errors.New("stopped after too many redirects")

// WithRedirects returns a copy of c that follows redirects as policy says
// at the time of each one (see provider.RedirectsNone and
// provider.RedirectsSameOrigin): a redirect not followed is handed back as
// the 3xx answer it is, for the provider to report (see Redirect). Nothing
// is sent to a URL a redirect it does not follow points at.
func WithRedirects(c *http.Client, policy func() string) *http.Client {
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if policy() != provider.RedirectsSameOrigin || !SameOrigin(req.URL, via[0].URL) {
			return http.ErrUseLastResponse
		}
		if len(via) >= MaxRedirects {
			return ErrTooManyRedirects
		}
		return nil
	}
	return &cc
}

// SameOrigin reports whether a and b have the same scheme, host and port
// (the default port of the scheme when none is written).
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// Redirect describes resp when it is a redirect that was not followed:
// "redirected to URL: not followed (...)", the URL resolved against the
// request's and shown without its password (url.URL.Redacted) and made
// Printable, the reason naming the policy. It returns "" for any other
// answer. Callers redact their secrets from the result.
func Redirect(resp *http.Response, policy string) string {
	if resp.StatusCode < 300 || resp.StatusCode >= 400 || resp.StatusCode == http.StatusNotModified {
		return ""
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return ""
	}
	shown := "a URL that does not parse"
	sameOrigin := false
	if u, err := url.Parse(loc); err == nil {
		if resp.Request != nil && resp.Request.URL != nil {
			u = resp.Request.URL.ResolveReference(u)
			sameOrigin = SameOrigin(u, resp.Request.URL)
		}
		shown = Truncate(u.Redacted())
	}
	if policy == provider.RedirectsSameOrigin && !sameOrigin {
		return "redirected to " + shown + ", another origin: not followed (followRedirects: same-origin follows redirects to the same scheme, host and port only)"
	}
	return "redirected to " + shown + ": not followed (converge follows no redirects by default; followRedirects: same-origin in the provider's ProviderConfig follows those to the same origin)"
}

// URL returns u as it may be shown: without its password
// (url.URL.Redacted), made Printable.
func URL(u string) string {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		if i := strings.Index(u, "://"); i >= 0 {
			if at := strings.LastIndexByte(u, '@'); at > i {
				u = u[:i+3] + "xxxxx" + u[at:] // keep no userinfo
			}
		}
		return Printable(u)
	case p.User == nil:
		return Printable(u)
	}
	return Printable(p.Redacted())
}

// Redirects is a provider's redirect policy, set from its ProviderConfig.
// Embedded in a provider, it makes the provider a provider.Configurer. The
// zero value follows no redirect. It is safe for concurrent use.
type Redirects struct {
	sameOrigin atomic.Bool
}

// Configure takes the redirect policy of the ProviderConfig: by default no
// redirect is followed (a 3xx is a terminal error naming where it
// pointed); with provider.RedirectsSameOrigin, redirects to the same
// scheme, host and port are followed, with the request's headers, and a
// redirect to another origin is a terminal error: no header, nor anything
// else, is ever sent there.
func (r *Redirects) Configure(s provider.Settings) error {
	if err := provider.CheckFollowRedirects(s.FollowRedirects); err != nil {
		return err
	}
	r.sameOrigin.Store(s.FollowRedirects == provider.RedirectsSameOrigin)
	return nil
}

// Policy is the policy now: provider.RedirectsNone or
// provider.RedirectsSameOrigin, for WithRedirects and Redirect.
func (r *Redirects) Policy() string {
	if r.sameOrigin.Load() {
		return provider.RedirectsSameOrigin
	}
	return provider.RedirectsNone
}
