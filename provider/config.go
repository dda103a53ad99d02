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
	// Config holds the provider's own settings, from the ProviderConfig's
	// spec.config, checked against its ConfigSchema at load time and with
	// every ${env:NAME} expanded. A variable that is not set leaves its
	// key out (the engine logs which). Nil when the ProviderConfig has
	// none.
	Config map[string]any
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

// ConfigSchemer is implemented by providers that take settings of their own
// in a ProviderConfig's spec.config. The loader checks spec.config against
// the schema's Fields (types, Required, Validate; unknown keys are errors);
// a provider that does not implement it accepts no spec.config. String
// values may hold ${env:NAME}: the loader checks only the literal ones, and
// the provider gets them expanded in Settings.Config, so its Configure
// checks them again. Values of Sensitive fields are never logged.
type ConfigSchemer interface {
	ConfigSchema() Schema
}
