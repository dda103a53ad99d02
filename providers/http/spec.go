package httpprovider

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/convergehq/converge/provider"
)

// Kind is the one kind the provider manages.
const Kind = "http.Resource"

// Defaults of optional spec fields.
const (
	DefaultIDField      = "id"
	DefaultUpdateMethod = "PUT"
)

// schema describes http.Resource.
func schema() provider.Schema {
	return provider.Schema{
		Kind:        Kind,
		Description: "An object in a JSON REST collection: created with POST url, read, updated and deleted at url/{id}.",
		Fields: map[string]provider.Field{
			"url": {
				Type:        provider.String,
				Description: "URL of the collection (http or https). Changing it replaces the object.",
				Required:    true,
				ForceNew:    true,
				Validate:    validateURL,
			},
			"body": {
				Type:        provider.Map,
				Description: "The desired object. Only the keys declared here are compared: fields the server adds are not drift.",
				Required:    true,
				Partial:     true,
			},
			"idField": {
				Type:        provider.String,
				Description: "Field of the server's object that holds its id; dots reach into nested objects (\"data.id\"). Default \"id\".",
				Default:     DefaultIDField,
				Validate:    nonEmpty,
			},
			"updateMethod": {
				Type:        provider.String,
				Description: "PUT (send the whole body) or PATCH. Default PUT.",
				Default:     DefaultUpdateMethod,
				Normalize: func(v any) (any, error) {
					if s, ok := v.(string); ok {
						return strings.ToUpper(s), nil
					}
					return v, nil
				},
				Validate: func(v any) error {
					if s, _ := v.(string); s != "PUT" && s != "PATCH" {
						return fmt.Errorf("must be PUT or PATCH, got %q", s)
					}
					return nil
				},
			},
			"adoptBy": {
				Type:        provider.String,
				Description: "A body field that identifies the object: when no id is recorded, and on a 409 to a create, the collection is listed and the object whose field matches is adopted.",
				Validate:    nonEmpty,
			},
			"readyWhen": {
				Type:        provider.Map,
				Description: "{field, equals}: the object is Ready only once its field (dots reach into nested objects) equals the value.",
				Validate:    validateReadyWhen,
			},
			"headers": {
				Type:        provider.Map,
				Description: "Request headers. Values are sensitive and may hold ${env:NAME}, expanded from the environment at call time.",
				Sensitive:   true,
				Env:         true,
				Validate:    validateHeaders,
			},
		},
		Outputs: []string{"id", "name", "state"},
		// The outputs are the whole observed object: any field may be referenced.
		AnyOutputs: true,
	}
}

func nonEmpty(v any) error {
	if s, _ := v.(string); s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func validateURL(v any) error {
	s, _ := v.(string)
	if strings.Contains(s, "${") {
		return nil // holds a reference: checked once resolved
	}
	_, err := parseCollection(s)
	return err
}

// parseCollection checks that s is an absolute http(s) URL without a
// fragment and returns it parsed.
func parseCollection(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", s)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("URL %q: a collection URL has no fragment", s)
	}
	return u, nil
}

func validateReadyWhen(v any) error {
	m, _ := v.(map[string]any)
	for k := range m {
		if k != "field" && k != "equals" {
			return fmt.Errorf("unknown key %q (want field and equals)", k)
		}
	}
	if f, _ := m["field"].(string); f == "" {
		return errors.New("field must be a non-empty string")
	}
	if _, ok := m["equals"]; !ok {
		return errors.New("equals is required")
	}
	return nil
}

func validateHeaders(v any) error {
	m, _ := v.(map[string]any)
	for _, k := range provider.SortedKeys(m) {
		if !validHeaderName(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		if _, ok := m[k].(string); !ok && !provider.IsUnknown(m[k]) {
			// Never print the value: headers are sensitive.
			return fmt.Errorf("header %s: value must be a string", k)
		}
	}
	return nil
}

// validHeaderName reports whether k is an HTTP token (RFC 9110).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// spec is a parsed http.Resource spec.
type spec struct {
	url          *url.URL
	body         map[string]any
	idField      string
	updateMethod string
	adoptBy      string
	readyField   string
	readyEquals  any
	hasReady     bool
	headers      map[string]string // templates: ${env:NAME} not expanded (see provider.ExpandEnv)
}

// parseSpec reads a resolved spec. Defaults are applied here too, so that a
// spec the engine did not default still works. Errors are terminal: the spec
// cannot change by itself.
func parseSpec(m map[string]any) (spec, error) {
	if provider.IsUnknown(m) {
		return spec{}, provider.Terminalf("spec holds values not known yet")
	}
	var s spec
	raw, _ := m["url"].(string)
	u, err := parseCollection(raw)
	if err != nil {
		return spec{}, provider.Terminal(fmt.Errorf("spec.url: %w", err))
	}
	s.url = u
	body, ok := m["body"].(map[string]any)
	if !ok {
		return spec{}, provider.Terminalf("spec.body: must be a map")
	}
	s.body = body
	s.idField = DefaultIDField
	if v, _ := m["idField"].(string); v != "" {
		s.idField = v
	}
	s.updateMethod = DefaultUpdateMethod
	if v, _ := m["updateMethod"].(string); v != "" {
		s.updateMethod = strings.ToUpper(v)
	}
	if s.updateMethod != "PUT" && s.updateMethod != "PATCH" {
		return spec{}, provider.Terminalf("spec.updateMethod: must be PUT or PATCH, got %q", s.updateMethod)
	}
	s.adoptBy, _ = m["adoptBy"].(string)
	if s.adoptBy != "" {
		if _, ok := body[s.adoptBy]; !ok {
			return spec{}, provider.Terminalf("spec.adoptBy: body has no field %q", s.adoptBy)
		}
	}
	if rw, ok := m["readyWhen"].(map[string]any); ok {
		if err := validateReadyWhen(rw); err != nil {
			return spec{}, provider.Terminal(fmt.Errorf("spec.readyWhen: %w", err))
		}
		s.readyField, _ = rw["field"].(string)
		s.readyEquals = provider.Canonical(rw["equals"])
		s.hasReady = true
	}
	if hs, ok := m["headers"].(map[string]any); ok {
		if err := validateHeaders(hs); err != nil {
			return spec{}, provider.Terminal(fmt.Errorf("spec.headers: %w", err))
		}
		s.headers = make(map[string]string, len(hs))
		for k, v := range hs {
			s.headers[k] = v.(string)
		}
	}
	return s, nil
}

// expandHeaders returns the headers with their templates expanded (see
// provider.ExpandEnv: the engine's resolution leaves live only the
// ${env:NAME} the manifest wrote), and the secrets to keep out of
// messages: every header value, as written and expanded, and every
// variable value used. A variable that is not set is a terminal error
// naming the header and the variable, never a value.
func expandHeaders(hs map[string]string, lookup func(string) (string, bool)) (map[string]string, []string, error) {
	if len(hs) == 0 {
		return nil, nil, nil
	}
	out := make(map[string]string, len(hs))
	var secrets []string
	for _, k := range provider.SortedKeys(hs) {
		expanded, used, err := provider.ExpandEnv(hs[k], lookup)
		if err != nil {
			return nil, nil, provider.Terminal(fmt.Errorf("spec.headers.%s: %w", k, err))
		}
		out[k] = expanded
		secrets = append(secrets, hs[k], expanded)
		secrets = append(secrets, used...)
	}
	return out, secrets, nil
}

// ValidateSpec checks what the field schema cannot: adoptBy must name a
// field of body. Values holding unresolved references are skipped.
func (p *Provider) ValidateSpec(kind string, m map[string]any) []provider.FieldError {
	if kind != Kind {
		return []provider.FieldError{{Field: "kind", Msg: fmt.Sprintf("unknown kind %s for the http provider", kind)}}
	}
	var errs []provider.FieldError
	adopt, ok := m["adoptBy"].(string)
	body, bodyOK := m["body"].(map[string]any)
	if ok && adopt != "" && bodyOK {
		if _, has := body[adopt]; !has {
			errs = append(errs, provider.FieldError{Field: "spec.adoptBy", Msg: fmt.Sprintf("body has no field %q to find the object by", adopt)})
		}
	}
	return errs
}

// osLookupEnv is the default environment lookup.
var osLookupEnv = os.LookupEnv
