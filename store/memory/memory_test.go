package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

func BenchmarkPutRecordParallel(b *testing.B) {
	storetest.BenchmarkPutRecordParallel(b, func(b *testing.B) store.Store { return memory.New() })
}

func TestClosed(t *testing.T) {
	s := memory.New()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.PutRecord(t.Context(), store.Record{ID: "a.A/1"}); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("PutRecord after Close = %v; want an error wrapping memory.ErrClosed", err)
	}
	if _, err := s.ListRecords(t.Context()); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("ListRecords after Close = %v; want an error wrapping memory.ErrClosed", err)
	}
}

func TestWithNow(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	s := memory.New(memory.WithNow(func() time.Time { return now }))
	ev, err := s.AddEvent(t.Context(), store.Event{Type: store.Normal, Reason: "r", Message: "m"})
	if err != nil {
		t.Fatalf("AddEvent: %v", err)
	}
	if !ev.FirstSeen.Equal(now) || !ev.LastSeen.Equal(now) {
		t.Errorf("event seen %v..%v; want %v", ev.FirstSeen, ev.LastSeen, now)
	}
	if err := s.PutRevision(t.Context(), store.Revision{Hash: "h"}); err != nil {
		t.Fatalf("PutRevision: %v", err)
	}
	rev, err := s.GetRevision(t.Context(), "h")
	if err != nil {
		t.Fatalf("GetRevision: %v", err)
	}
	if !rev.Created.Equal(now) {
		t.Errorf("revision Created = %v; want %v", rev.Created, now)
	}
}
