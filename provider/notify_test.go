package provider_test

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/convergehq/converge/provider"
)

// supervisor is the notifying part of a provider of supervised processes:
// it is told which resources to watch, and says which one's process
// exited. Watch and Unwatch only note the request under a small lock;
// Notify does the rest in its own goroutine.
type supervisor struct {
	mu      sync.Mutex
	watched map[string]bool
	exits   chan string // resource IDs whose process exited
}

func (s *supervisor) Watch(req provider.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched[req.ID] = req.Spec != nil // no spec: nothing runs yet
}

func (s *supervisor) Unwatch(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watched, id)
}

func (s *supervisor) Notify(ctx context.Context, changed func(id string)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-s.exits:
			s.mu.Lock()
			ok := s.watched[id]
			s.mu.Unlock()
			if ok { // never under the lock: the engine may be calling Watch
				changed(id)
			}
		}
	}
}

func (s *supervisor) Close() error { return nil }

var (
	_ provider.Notifier = (*supervisor)(nil)
	_ provider.Watcher  = (*supervisor)(nil)
	_ provider.Closer   = (*supervisor)(nil)
	// Closer is io.Closer by another name.
	_ io.Closer = provider.Closer(nil)
)

// The engine's side of the protocol, played by hand: records are watched,
// Notify runs until the engine stops, and each changed(id) is a resource
// to reconcile.
func ExampleNotifier() {
	s := &supervisor{watched: map[string]bool{}, exits: make(chan string)}
	s.Watch(provider.Request{ID: "process.Process/web", Spec: map[string]any{"command": "web"}})
	s.Watch(provider.Request{ID: "process.Process/db", Spec: map[string]any{"command": "db"}})
	s.Unwatch("process.Process/db")

	ctx, stop := context.WithCancel(context.Background())
	reconcile := make(chan string)
	done := make(chan error)
	go func() { done <- s.Notify(ctx, func(id string) { reconcile <- id }) }()

	s.exits <- "process.Process/db" // no longer managed: ignored
	s.exits <- "process.Process/web"
	fmt.Println("reconcile", <-reconcile)

	stop() // the engine stops: Notify returns, then Close
	fmt.Println("notify returned", <-done)
	fmt.Println("close", s.Close())
	// Output:
	// reconcile process.Process/web
	// notify returned <nil>
	// close <nil>
}
