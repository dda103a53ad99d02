package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestCLIDocFlags: every flag docs/cli.md names exists, on the command
// whose section names it (or on some command, in the shared sections), and
// every command's flag is documented somewhere in it.
func TestCLIDocFlags(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	cmds := map[string]*cobra.Command{}
	for _, c := range root.Commands() {
		cmds[c.Name()] = c
	}
	has := func(c *cobra.Command, name string) bool {
		return c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil || root.PersistentFlags().Lookup(name) != nil
	}
	anyHas := func(name string) bool {
		for _, c := range cmds {
			if has(c, name) {
				return true
			}
		}
		return root.PersistentFlags().Lookup(name) != nil || root.Flags().Lookup(name) != nil
	}
	flagRef := regexp.MustCompile("`(?:converge [a-z]+ )?[^`]*?(--[a-z][a-z-]+)")
	section := ""
	documented := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
			continue
		}
		for _, m := range flagRef.FindAllStringSubmatch(line, -1) {
			name := strings.TrimPrefix(m[1], "--")
			documented[name] = true
			if c, ok := cmds[section]; ok {
				if !has(c, name) && !anyHas(name) {
					t.Errorf("docs/cli.md:%d: section %s names --%s, which no command has", i+1, section, name)
				}
				continue
			}
			if !anyHas(name) {
				t.Errorf("docs/cli.md:%d: --%s: no command has this flag", i+1, name)
			}
		}
	}
	for _, c := range cmds {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && f.Name != "help" && !documented[f.Name] {
				t.Errorf("converge %s --%s is not documented in docs/cli.md", c.Name(), f.Name)
			}
		})
	}
}
