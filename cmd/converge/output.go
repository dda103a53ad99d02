package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// checkOutput returns an error naming the choices when output is not one
// of them.
func checkOutput(output string, allowed ...string) error {
	if slices.Contains(allowed, output) {
		return nil
	}
	return fmt.Errorf("-o %q: must be %s or %s", output, strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
}

// writeJSON writes v as indented JSON, without escaping <, > and & (the
// output is for people and programs, not for HTML).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
