package install

import (
	"fmt"
	"strings"

	"github.com/convergehq/converge/provider"
)

// DefaultHost is the registry host implied by a two-part source address.
const DefaultHost = "registry.terraform.io"

// Source is a provider's source address, HOST/NAMESPACE/TYPE, normalised to
// lower case.
type Source struct {
	Host      string
	Namespace string
	Type      string
}

// String returns the full address, such as registry.terraform.io/hashicorp/random.
func (s Source) String() string { return s.Host + "/" + s.Namespace + "/" + s.Type }

// MarshalText returns String(), so that a Source is a string in JSON.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a source address with ParseSource.
func (s *Source) UnmarshalText(b []byte) error {
	src, err := ParseSource(string(b))
	if err != nil {
		return err
	}
	*s = src
	return nil
}

// ParseSource reads a source address as Terraform does: NAMESPACE/TYPE (the
// host is registry.terraform.io) or HOST/NAMESPACE/TYPE. Upper-case letters
// are lowered. Errors wrap ErrInvalid and are terminal.
func ParseSource(s string) (Source, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := func(format string, args ...any) (Source, error) {
		return Source{}, provider.Terminal(fmt.Errorf("provider source %q: %s: %w", orig, fmt.Sprintf(format, args...), ErrInvalid))
	}
	if s == "" {
		return bad("empty; want NAMESPACE/TYPE or HOST/NAMESPACE/TYPE, such as hashicorp/random")
	}
	parts := strings.Split(s, "/")
	var src Source
	switch len(parts) {
	case 2:
		src = Source{Host: DefaultHost, Namespace: parts[0], Type: parts[1]}
	case 3:
		src = Source{Host: parts[0], Namespace: parts[1], Type: parts[2]}
	default:
		return bad("has %d parts; want NAMESPACE/TYPE or HOST/NAMESPACE/TYPE, such as hashicorp/random", len(parts))
	}
	src.Host = strings.ToLower(src.Host)
	src.Namespace = strings.ToLower(src.Namespace)
	src.Type = strings.ToLower(src.Type)
	if err := checkHost(src.Host); err != nil {
		return bad("host: %v", err)
	}
	if err := checkPart(src.Namespace); err != nil {
		return bad("namespace: %v", err)
	}
	if err := checkPart(src.Type); err != nil {
		return bad("type: %v", err)
	}
	if strings.HasPrefix(src.Type, "terraform-provider-") {
		return bad("type: the terraform-provider- prefix is not part of the type; write %s/%s", src.Namespace, strings.TrimPrefix(src.Type, "terraform-provider-"))
	}
	return src, nil
}

// checkPart accepts a namespace or type: letters, digits and dashes, neither
// first nor last a dash.
func checkPart(p string) error {
	if p == "" {
		return fmt.Errorf("empty")
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%q has %q; only letters, digits and dashes are allowed", p, r)
		}
	}
	if p[0] == '-' || p[len(p)-1] == '-' {
		return fmt.Errorf("%q starts or ends with a dash", p)
	}
	return nil
}

// checkHost accepts a host name, dot-separated labels of letters, digits and
// dashes, with an optional :PORT.
func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty")
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort {
		if port == "" || len(port) > 5 {
			return fmt.Errorf("%q has a bad port", h)
		}
		for _, r := range port {
			if r < '0' || r > '9' {
				return fmt.Errorf("%q has a bad port", h)
			}
		}
	}
	for _, label := range strings.Split(name, ".") {
		if err := checkPart(label); err != nil {
			return fmt.Errorf("%q: label %v", h, err)
		}
	}
	return nil
}
