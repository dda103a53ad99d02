package provider

import "fmt"

// Redirect policies: the values of a ProviderConfig's followRedirects.
const (
	// RedirectsNone follows no redirect: a 3xx answer is a terminal error
	// naming where it pointed. The default.
	RedirectsNone = "none"
	// RedirectsSameOrigin follows redirects to the same scheme, host and
	// port only (with the request's headers); one to another origin is a
	// terminal error, and nothing is sent there.
	RedirectsSameOrigin = "same-origin"
)

// Settings are what a ProviderConfig tells the provider itself, rather
// than the engine's limits.
type Settings struct {
	// FollowRedirects is RedirectsNone (also when empty) or
	// RedirectsSameOrigin.
	FollowRedirects string
}

// CheckFollowRedirects returns an error unless v is a redirect policy (or
// empty).
func CheckFollowRedirects(v string) error {
	switch v {
	case "", RedirectsNone, RedirectsSameOrigin:
		return nil
	}
	return fmt.Errorf("followRedirects %q: must be %s or %s", v, RedirectsNone, RedirectsSameOrigin)
}

// Configurer is implemented by providers that take Settings. The engine
// calls Configure whenever the target revision changes, with the zero
// Settings when no ProviderConfig names the provider.
type Configurer interface {
	Configure(Settings) error
}
