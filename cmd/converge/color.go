package main

import (
	"github.com/spf13/cobra"

	"github.com/convergehq/converge/store"
)

// colors paints the words of a report.
type colors struct{}

// colors returns how cmd's reports are painted.
func (g *globals) colors(*cobra.Command) colors { return colors{} }

// phase paints a phase.
func (c colors) phase(p store.Phase) string { return string(p) }
