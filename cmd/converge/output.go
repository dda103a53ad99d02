package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// outputFormat is what -o asks for, on every command that reports.
type outputFormat string

// The output formats. table is another name for text.
const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
	outputYAML outputFormat = "yaml"
)

// addOutputFlag gives cmd the -o flag of the commands that report.
func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", string(outputText), "output format: text, json or yaml (table is text)")
}

// parseOutput checks the value of -o.
func parseOutput(output string) (outputFormat, error) {
	switch output {
	case "text", "table":
		return outputText, nil
	case "json":
		return outputJSON, nil
	case "yaml":
		return outputYAML, nil
	}
	return "", fmt.Errorf("-o %q: must be text, json or yaml (table is text)", output)
}

// checkOutput returns an error naming the choices when output is not one
// of them (for -o of graph, which draws rather than reports).
func checkOutput(output string, allowed ...string) error {
	if slices.Contains(allowed, output) {
		return nil
	}
	return fmt.Errorf("-o %q: must be %s or %s", output, strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
}

// writeData writes v as JSON or YAML (the same fields, in the same order).
func writeData(w io.Writer, format outputFormat, v any) error {
	if format == outputYAML {
		var b bytes.Buffer
		if err := writeJSON(&b, v); err != nil {
			return err
		}
		return writeYAML(w, b.Bytes())
	}
	return writeJSON(w, v)
}

// writeJSON writes v as indented JSON, without escaping <, > and & (the
// output is for people and programs, not for HTML).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeYAML writes the JSON document js as YAML, keeping its field order:
// JSON is YAML, so it is read as a YAML tree, and written back in block
// style. A string that would read as another type (a "true", a "0644") is
// quoted, and one with control characters is written escaped.
func writeYAML(w io.Writer, js []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return enc.Close()
}

// writeFormatted writes a document that its own JSON writer renders (a
// plan) as JSON or YAML.
func writeFormatted(w io.Writer, format outputFormat, writeJSON func(io.Writer) error) error {
	if format != outputYAML {
		return writeJSON(w)
	}
	var b bytes.Buffer
	if err := writeJSON(&b); err != nil {
		return err
	}
	return writeYAML(w, b.Bytes())
}
