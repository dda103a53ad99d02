package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/providers/terraform"
	"github.com/convergehq/converge/providers/terraform/install"
)

// providersView is what converge providers shows: the providers built
// into converge, the Terraform providers installed in the plugin
// directories, and the directories searched.
type providersView struct {
	BuiltIn   []builtinProvider   `json:"builtIn"`
	Installed []installedProvider `json:"installed"`
	Dirs      []install.DirStatus `json:"dirs"`
}

type builtinProvider struct {
	Name  string   `json:"name"`
	Kinds []string `json:"kinds"`
}

// installedProvider is one installed package and the kinds it offers
// under a ProviderConfig named after its type (local_file is local.file).
type installedProvider struct {
	install.Package
	Protocol int      `json:"protocol,omitempty"`
	Kinds    []string `json:"kinds,omitempty"`
	// Error says why the kinds are unknown: the plugin did not start.
	Error string `json:"error,omitempty"`
}

func newProvidersCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "List the providers: those built in and the Terraform providers installed, with their kinds",
		Long: `providers lists the providers built into converge, and the Terraform and
OpenTofu providers found in the plugin directories (--plugin-dir, then
CONVERGE_PLUGIN_DIR, then the directories Terraform and OpenTofu search),
each started once to list the kinds it offers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			v, err := g.providers(cmd.Context(), log)
			if err != nil {
				return err
			}
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, v)
			}
			v.writeText(cmd.OutOrStdout())
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.AddCommand(newProvidersLockCmd(g))
	return cmd
}

func (g *globals) providers(ctx context.Context, log *slog.Logger) (providersView, error) {
	reg, err := g.registry()
	if err != nil {
		return providersView{}, err
	}
	v := providersView{BuiltIn: []builtinProvider{}, Installed: []installedProvider{}}
	for _, p := range reg.Providers() {
		b := builtinProvider{Name: p.Name()}
		for _, s := range p.Schemas() {
			b.Kinds = append(b.Kinds, s.Kind)
		}
		v.BuiltIn = append(v.BuiltIn, b)
	}
	dirs := install.Dirs(g.pluginDirs)
	v.Dirs = install.CheckDirs(dirs)
	pkgs, err := install.List(ctx, dirs)
	if err != nil {
		return providersView{}, err
	}
	opts := install.Options{Dirs: dirs, CacheDir: pluginCache(), Logger: log}
	for _, pkg := range pkgs {
		it := installedProvider{Package: pkg}
		if err := it.describe(ctx, opts, log); err != nil {
			it.Error = err.Error()
		}
		v.Installed = append(v.Installed, it)
	}
	return v, nil
}

// describe starts the package's plugin to list its kinds.
func (it *installedProvider) describe(ctx context.Context, opts install.Options, log *slog.Logger) error {
	pkg := it.Package
	if pkg.Executable == "" { // packed: extracted to run
		found, err := install.Find(ctx, opts, pkg.Source, "= "+pkg.Version)
		if err != nil {
			return err
		}
		pkg = found
	}
	p, err := terraform.Start(ctx, terraform.Options{Name: pkg.Source.Type, Type: pkg.Source.Type, Source: pkg.Source.String(), Path: pkg.Executable, Logger: log})
	if err != nil {
		return err
	}
	defer p.Close()
	it.Protocol = p.Protocol()
	it.Kinds = p.Kinds()
	return nil
}

func (v providersView) writeText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Built in:")
	for _, b := range v.BuiltIn {
		fmt.Fprintf(tw, "  %s\t%s\n", b.Name, strings.Join(b.Kinds, ", "))
	}
	tw.Flush()
	searched, exist := len(v.Dirs), 0
	for _, d := range v.Dirs {
		if d.Problem == "" {
			exist++
		}
	}
	fmt.Fprintf(w, "\nTerraform providers installed (%d of %d plugin directories exist):\n", exist, searched)
	if len(v.Installed) == 0 {
		fmt.Fprintln(w, "  none: put providers in a plugin directory, in Terraform's filesystem-mirror layout, or pass --plugin-dir")
	}
	for _, p := range v.Installed {
		packed := ""
		if p.Packed {
			packed = ", packed"
		}
		fmt.Fprintf(w, "  %s %s (%s%s) in %s\n", p.Source, p.Version, p.OSArch, packed, p.Path())
		switch {
		case p.Error != "":
			fmt.Fprintf(w, "    does not start: %s\n", p.Error)
		default:
			fmt.Fprintf(w, "    protocol %d; kinds with a ProviderConfig named %s: %s\n", p.Protocol, p.Source.Type, strings.Join(p.Kinds, ", "))
		}
	}
	fmt.Fprintln(w, "\nPlugin directories searched, in order:")
	for _, d := range v.Dirs {
		if d.Problem != "" {
			fmt.Fprintf(w, "  %s (%s)\n", d.Dir, d.Problem)
			continue
		}
		fmt.Fprintf(w, "  %s\n", d.Dir)
	}
}

// lockEntry is one provider converge providers lock locked.
type lockEntry struct {
	ProviderConfig string   `json:"providerConfig"`
	Source         string   `json:"source"`
	Version        string   `json:"version"`
	Constraint     string   `json:"constraint,omitempty"`
	Hashes         []string `json:"hashes"`
}

// lockView is what converge providers lock reports.
type lockView struct {
	File      string      `json:"file"`
	Providers []lockEntry `json:"providers"`
}

func newProvidersLockCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Write converge.lock: the version and hashes of each Terraform provider the manifests use",
		Long: `lock chooses, for each ProviderConfig of -f that names a Terraform provider,
the newest installed version its spec.version allows (ignoring any lock),
and writes its version and h1: hash (zh: too when packed) to converge.lock
(--lock-file) atomically. Once the lock exists, converge uses the locked
versions only, and refuses a provider binary whose hash differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			if len(g.files) == 0 {
				return fmt.Errorf("no manifests given: pass -f FILE_OR_DIR, whose ProviderConfigs name the providers to lock")
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			v, err := g.lock(cmd.Context(), log)
			if err != nil {
				return err
			}
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, v)
			}
			for _, p := range v.Providers {
				fmt.Fprintf(cmd.OutOrStdout(), "Locked %s %s for ProviderConfig %s (%s)\n", p.Source, p.Version, p.ProviderConfig, strings.Join(p.Hashes, ", "))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (%s).\n", v.File, plural(len(v.Providers), "provider"))
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func (g *globals) lock(ctx context.Context, log *slog.Logger) (lockView, error) {
	opts, err := g.installOptions(log, false)
	if err != nil {
		return lockView{}, err
	}
	lock := &install.Lock{}
	v := lockView{File: g.lockPath(), Providers: []lockEntry{}}
	var errs manifest.ErrorList
	seen := map[string]string{}
	for _, d := range manifest.Read(g.files).Declared() {
		if !strings.Contains(d.Plugin, "/") {
			continue // built in
		}
		fail := func(field string, err error) {
			errs = append(errs, &manifest.Error{File: d.Source.File, Line: d.Source.Line, Resource: manifest.KindProviderConfig + "/" + d.Name, Field: field, Msg: err.Error()})
		}
		src, err := install.ParseSource(d.Plugin)
		if err != nil {
			fail("spec.source", err)
			continue
		}
		if other, dup := seen[src.String()]; dup && other != d.Version {
			fail("spec.version", fmt.Errorf("%s is also used with version %q: one lock entry per provider, so its ProviderConfigs must agree", src, other))
			continue
		}
		seen[src.String()] = d.Version
		pkg, err := install.Find(ctx, opts, src, d.Version)
		if err != nil {
			fail(findField(ctx, opts.Dirs, src, d, err), err)
			continue
		}
		lock.Set(pkg, d.Version)
		v.Providers = append(v.Providers, lockEntry{ProviderConfig: d.Name, Source: src.String(), Version: pkg.Version, Constraint: d.Version, Hashes: pkg.Hashes})
	}
	if len(errs) > 0 {
		return lockView{}, errs
	}
	if err := lock.Write(v.File); err != nil {
		return lockView{}, err
	}
	return v, nil
}
