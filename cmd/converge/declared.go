package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/postgres"
)

// A ProviderConfig whose spec.source names a provider (a Terraform
// provider, or another instance of a built-in one) makes its kinds exist:
// before the manifests are validated, converge starts what each names and
// registers it under the ProviderConfig's name. The providers started are
// kept for the life of the process, stopped when it ends.

// declaredSet is the providers the manifests declared, by ProviderConfig
// name.
type declaredSet struct {
	mu      sync.Mutex
	started map[string]manifest.Declared
	closers []provider.Closer
}

// instances are the built-in providers of which a ProviderConfig may make
// another instance (spec.source: postgres): each has kinds of its own,
// NAME.Kind, and settings of its own.
var instances = map[string]func(name string, log *slog.Logger) provider.Provider{
	"postgres": func(name string, log *slog.Logger) provider.Provider {
		return postgres.New(name, postgres.WithLogger(log))
	},
}

// kindPrefix is what a declared provider's name must be: the prefix of its
// kinds.
var kindPrefix = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// startDeclared starts and registers in reg every provider decls names
// that is not registered yet. A ProviderConfig whose source changed since
// its provider started is an error: the running process keeps the
// provider it started.
func (g *globals) startDeclared(ctx context.Context, reg *provider.Registry, decls []manifest.Declared) error {
	if len(decls) == 0 {
		return nil
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	set := &g.declared
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.started == nil {
		set.started = map[string]manifest.Declared{}
	}
	var errs manifest.ErrorList
	fail := func(d manifest.Declared, field, format string, args ...any) {
		errs = append(errs, &manifest.Error{File: d.Source.File, Line: d.Source.Line, Resource: manifest.KindProviderConfig + "/" + d.Name,
			Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, d := range decls {
		if prev, ok := set.started[d.Name]; ok {
			if prev.Plugin != d.Plugin || prev.Version != d.Version {
				fail(d, "spec.source", "changed from %s to %s while converge runs: restart it to start the new provider", describeDeclared(prev), describeDeclared(d))
			}
			continue
		}
		if _, builtin := reg.Provider(d.Name); builtin {
			if d.Plugin != d.Name || d.Version != "" {
				fail(d, "metadata.name", "%q is a built-in provider: name the ProviderConfig of %s otherwise (its kinds are NAME.Kind)", d.Name, describeDeclared(d))
			}
			continue
		}
		if !kindPrefix.MatchString(d.Name) {
			fail(d, "metadata.name", "%q cannot prefix kinds: use lower-case letters, digits, - and _, starting with a letter", d.Name)
			continue
		}
		var p provider.Provider
		if !strings.Contains(d.Plugin, "/") {
			make, ok := instances[d.Plugin]
			switch {
			case !ok:
				fail(d, "spec.source", "%q is neither a built-in provider that can have instances (%s) nor a Terraform provider's source (NAMESPACE/TYPE, such as hashicorp/random)", d.Plugin, strings.Join(sortedKeys(instances), ", "))
				continue
			case d.Version != "":
				fail(d, "spec.version", "applies to Terraform providers only; %s is built into converge", d.Plugin)
				continue
			}
			p = make(d.Name, log.With("provider", d.Name))
		} else {
			p, err = g.startTerraform(ctx, d, log)
			if err != nil {
				var ferr *manifest.Error
				if errors.As(err, &ferr) {
					errs = append(errs, ferr)
				} else {
					fail(d, "spec.source", "%v", err)
				}
				continue
			}
		}
		if err := reg.Register(p); err != nil {
			closeProvider(p, log)
			fail(d, "metadata.name", "%v", err)
			continue
		}
		set.started[d.Name] = d
		if c, ok := p.(provider.Closer); ok {
			set.closers = append(set.closers, c)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// closeDeclared stops every provider startDeclared started.
func (g *globals) closeDeclared() {
	set := &g.declared
	set.mu.Lock()
	closers := set.closers
	set.closers = nil
	set.mu.Unlock()
	for _, c := range closers {
		if err := c.Close(); err != nil {
			fmt.Fprintf(g.stderr, "warning: stopping a provider: %v\n", err)
		}
	}
}

func closeProvider(p provider.Provider, log *slog.Logger) {
	if c, ok := p.(provider.Closer); ok {
		if err := c.Close(); err != nil {
			log.Warn("stop the provider", "provider", p.Name(), "err", err)
		}
	}
}

func describeDeclared(d manifest.Declared) string {
	if d.Version != "" {
		return d.Plugin + " " + d.Version
	}
	return d.Plugin
}
