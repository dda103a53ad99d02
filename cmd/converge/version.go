package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is what converge version prints: where the binary comes
// from, as the Go toolchain recorded it.
type buildVersion struct {
	// Version is the module version (v1.2.3 for go install ...@v1.2.3),
	// "(devel)" for a build from a work tree.
	Version string `json:"version"`
	// Commit is the git commit the binary was built from ("unknown"
	// when the build recorded none), Modified whether the work tree had
	// uncommitted changes.
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readVersion reads the version from the build info (ok false: none).
func readVersion(bi *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "(devel)", Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				v.Commit = s.Value
			}
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the version on one line, as --version prints it.
func (v buildVersion) String() string {
	commit := v.Commit
	if v.Modified {
		commit += ", modified"
	}
	return fmt.Sprintf("converge %s (commit %s; %s %s)", v.Version, commit, v.Go, v.Platform)
}

func (v buildVersion) writeText(w io.Writer) {
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "version:  %s\ncommit:   %s\ngo:       %s\nplatform: %s\n", v.Version, commit, v.Go, v.Platform)
}

// currentVersion is this binary's version.
func currentVersion() buildVersion {
	return readVersion(debug.ReadBuildInfo())
}

func newVersionCmd(*globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show converge's version, the commit it was built from and its Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			v := currentVersion()
			if format == outputText {
				v.writeText(cmd.OutOrStdout())
				return nil
			}
			return writeData(cmd.OutOrStdout(), format, v)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
