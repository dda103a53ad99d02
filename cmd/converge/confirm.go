package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
)

// terminalReader is a standard input that says whether it is a terminal.
// Tests give the commands one to answer their questions as a person would.
type terminalReader interface {
	io.Reader
	IsTerminal() bool
}

// interactive reports whether in, a command's standard input, is a
// terminal: one that says so (terminalReader), or a file that is one.
// Anything else (a pipe, a file, an empty reader) is not: the commands
// that ask then do what they do for scripts.
func interactive(in io.Reader) bool {
	switch f := in.(type) {
	case terminalReader:
		return f.IsTerminal()
	case *os.File:
		return isTerminal(f)
	}
	return false
}

// Answers a question accepts.
const (
	answerYes   = "yes" // only the full word
	answerShort = "y/N" // y or yes; anything else, or nothing, is no
)

// ask prints question on out and reads one line from in. With want
// answerYes, only "yes" is a yes; with answerShort, "y" and "yes" are (in
// any case). An empty input (end of file) is a no.
func ask(in io.Reader, out io.Writer, question, want string) (bool, error) {
	if want == answerYes {
		fmt.Fprintf(out, "%s Only 'yes' will be accepted: ", question)
	} else {
		fmt.Fprintf(out, "%s [y/N]: ", question)
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if errors.Is(err, io.EOF) && line == "" {
		fmt.Fprintln(out)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	if want == answerYes {
		return a == "yes", nil
	}
	return a == "y" || a == "yes", nil
}

// askContext is ask that gives up when ctx is done (an interrupt while the
// question waits), as a no.
func askContext(ctx context.Context, in io.Reader, out io.Writer, question, want string) (bool, error) {
	type answer struct {
		ok  bool
		err error
	}
	got := make(chan answer, 1)
	go func() {
		ok, err := ask(in, out, question, want)
		got <- answer{ok, err}
	}()
	select {
	case a := <-got:
		return a.ok, a.err
	case <-ctx.Done():
		fmt.Fprintln(out)
		return false, nil
	}
}

// confirmApply returns what apply runs, on a terminal and without --yes,
// before it converges rv: it plans, and when the plan deletes or replaces
// anything, it shows the plan and asks; only "yes" goes on. Anything else
// cancels the apply (exit 1) before anything changed. A plan that only
// creates, updates or adopts goes on without a question, as off a
// terminal.
func confirmApply(cmd *cobra.Command, g *globals, format outputFormat) func(context.Context, *engine.Engine, *manifest.Revision) error {
	return func(ctx context.Context, e *engine.Engine, rv *manifest.Revision) error {
		p, err := e.Plan(ctx, rv)
		if err != nil {
			return err
		}
		s := p.Summary()
		if s.Delete == 0 && s.Replace == 0 {
			return nil
		}
		w := cmd.OutOrStdout()
		if format != outputText {
			w = cmd.ErrOrStderr() // stdout has the report alone
		}
		pw, flush := g.colors(cmd).planWriter(w)
		if err := p.WriteText(pw); err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		var what []string
		if s.Delete > 0 {
			what = append(what, "delete "+plural(s.Delete, "object"))
		}
		if s.Replace > 0 {
			what = append(what, "replace "+plural(s.Replace, "object"))
		}
		fmt.Fprintln(w)
		ok, err := askContext(ctx, cmd.InOrStdin(), w, fmt.Sprintf("This apply will %s. Do you want to perform these actions?", strings.Join(what, " and ")), answerYes)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(w, "Apply cancelled: nothing was changed.")
			return exitCode(1)
		}
		return nil
	}
}
