package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/store"
)

// The colours, as ANSI SGR sequences. Every one is as long as neutral,
// so that a column whose every cell is painted stays aligned in a
// tabwriter (which counts the sequences as text).
const (
	green   = "\x1b[32m"
	yellow  = "\x1b[33m"
	red     = "\x1b[31m"
	neutral = "\x1b[39m" // the terminal's own colour
	reset   = "\x1b[0m"
)

// colors paints the words of a report; its zero value paints nothing.
type colors struct{ on bool }

// useColor decides whether to paint: --color always paints, never does
// not, and auto paints only on a terminal, unless NO_COLOR is set (to
// anything but the empty string) or TERM is dumb.
func useColor(mode string, terminal bool, getenv func(string) string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb", nil
	}
	return false, fmt.Errorf("--color %q: must be auto, always or never", mode)
}

// colors returns how cmd's reports on stdout are painted.
func (g *globals) colors(cmd *cobra.Command) colors {
	f, ok := cmd.OutOrStdout().(*os.File)
	on, _ := useColor(g.color, ok && isTerminal(f), os.Getenv) // --color was checked before the command ran
	return colors{on: on}
}

func (c colors) paint(color, s string) string {
	if !c.on {
		return s
	}
	return color + s + reset
}

// phase paints a phase: Ready green, Failed and Error red, Drifted and
// Waiting yellow, the others in the terminal's colour.
func (c colors) phase(p store.Phase) string {
	switch p {
	case store.PhaseReady:
		return c.paint(green, string(p))
	case store.PhaseFailed, store.PhaseError:
		return c.paint(red, string(p))
	case store.PhaseDrifted, store.PhaseWaiting:
		return c.paint(yellow, string(p))
	}
	return c.paint(neutral, string(p))
}

// cell paints s in the terminal's colour, for a header above painted
// cells, which keeps the column aligned.
func (c colors) cell(s string) string { return c.paint(neutral, s) }

// planMarker finds the marker of an action's line in a text plan.
var planMarker = regexp.MustCompile(`(?m)^  (\+|~|-/\+|-) `)

// plan paints the markers of a text plan as Terraform does: + green, ~
// yellow, -/+ and - red.
func (c colors) plan(text []byte) []byte {
	if !c.on {
		return text
	}
	return planMarker.ReplaceAllFunc(text, func(m []byte) []byte {
		marker := string(bytes.TrimSpace(m))
		color := red
		switch marker {
		case "+":
			color = green
		case "~":
			color = yellow
		}
		return []byte("  " + color + marker + reset + " ")
	})
}

// planWriter paints what a plan writes to w.
func (c colors) planWriter(w io.Writer) (io.Writer, func() error) {
	if !c.on {
		return w, func() error { return nil }
	}
	var b bytes.Buffer
	return &b, func() error {
		_, err := w.Write(c.plan(b.Bytes()))
		return err
	}
}
