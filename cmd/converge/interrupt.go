package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/convergehq/converge/engine"
)

// interrupts handles SIGINT and SIGTERM for the commands that converge
// once. The first stops starting new work and lets the calls in flight
// finish (their outcomes are recorded); the second stops at once: every
// mutating call recorded its intent before it started, so the next run
// observes what it did, as after a crash.
type interrupts struct {
	sigs   chan os.Signal
	done   chan struct{}
	cancel context.CancelFunc
	engine atomic.Pointer[engine.Engine]
	// got is set once the first signal arrived.
	got atomic.Bool
}

// stopNow ends the process on a second interrupt.
var stopNow = os.Exit

// watchInterrupts returns a context that the first interrupt cancels, and
// starts watching. stop ends the watch.
func watchInterrupts(parent context.Context, stderr io.Writer) (context.Context, *interrupts, func()) {
	ctx, cancel := context.WithCancel(parent)
	in := &interrupts{sigs: make(chan os.Signal, 2), done: make(chan struct{}), cancel: cancel}
	signal.Notify(in.sigs, os.Interrupt, syscall.SIGTERM)
	go in.watch(stderr)
	return ctx, in, func() {
		signal.Stop(in.sigs)
		close(in.done)
		cancel()
	}
}

func (in *interrupts) watch(stderr io.Writer) {
	var sig os.Signal
	select {
	case sig = <-in.sigs:
	case <-in.done:
		return
	}
	in.got.Store(true)
	n := 0
	if e := in.engine.Load(); e != nil {
		n = len(e.InFlight())
	}
	what := "Interrupt received"
	if sig == syscall.SIGTERM {
		what = "SIGTERM received"
	}
	fmt.Fprintf(stderr, "%s: finishing %s in flight (press Ctrl-C again to stop now)\n", what, plural(n, "call"))
	in.cancel()
	select {
	case <-in.sigs:
		fmt.Fprintln(stderr, "Stopping now: the calls in flight were cut; their intents are recorded, so the next apply or run observes what they did.")
		stopNow(1)
	case <-in.done:
	}
}

// interrupted reports whether an interrupt arrived.
func (in *interrupts) interrupted() bool { return in.got.Load() }
