package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/store"
)

// The stream (GET /api/v1/stream) sends, as server-sent events:
//
//	event: resource  a record was put or deleted: {"seq", "change", "id", "resource"}
//	event: target    the target revision changed: {"seq", "target"}
//	event: event     an event was recorded, or repeated (its count grew)
//	event: reset     the stream cannot resume where asked: list again
//
// Every message's id is the cursor after it, "SEQ-EVENT-SEEN": the
// store's change sequence number, the highest event ID sent and the
// newest LastSeen sent (Unix nanoseconds). A client that reconnects with
// that id as Last-Event-ID (browsers do it on their own) gets what came
// after it:
//   - record and target changes from the store's watch after SEQ, in
//     order (store.Watcher's guarantees: the latest change of every
//     record, every target change); when the store no longer keeps them,
//     a reset, and the stream goes on from the latest change;
//   - the events with an ID above EVENT (new since) and those whose
//     LastSeen is after SEEN (repeated since), each once. The store gives
//     event IDs in the order it commits them, so none is skipped.
//
// Without Last-Event-ID the stream starts from now. Changes are pushed by
// the store's watch; the event log is read after every batch of changes
// and every EventPoll. A comment is sent every Heartbeat.

// cursor is where a stream stands; see above.
type cursor struct {
	seq, event, seen int64
}

func (c cursor) String() string { return fmt.Sprintf("%d-%d-%d", c.seq, c.event, c.seen) }

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return cursor{}, badRequest("Last-Event-ID %q: want SEQ-EVENT-SEEN, as the stream sent it", s)
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return cursor{}, badRequest("Last-Event-ID %q: want SEQ-EVENT-SEEN, as the stream sent it", s)
		}
		n[i] = v
	}
	return cursor{seq: n[0], event: n[1], seen: n[2]}, nil
}

// eventSlack is how far before the newest LastSeen sent the stream reads
// the event log: an event may be committed a moment after a later one.
const eventSlack = time.Minute

// streamWriteTimeout bounds one write to a stream's client.
const streamWriteTimeout = 30 * time.Second

type stream struct {
	h   *Handler
	w   *bufio.Writer
	rc  *http.ResponseController
	cur cursor
	// sent are the counts of the events sent lately, by ID, so that an
	// event is sent again only when it repeats.
	sent map[int64]int
	// read is when the read of the event log last used began.
	read time.Time
}

// eventReads is the latest read of the event log, shared by the streams:
// a stream uses one that began after the one it used before, so that
// however many streams are open the log is read about once per
// EventPoll.
type eventReads struct {
	mu    sync.Mutex
	at    time.Time // when it began
	since time.Time // its filter
	evs   []store.Event
}

// eventsSince returns the events last seen since then, read after
// notBefore, and when that read began.
func (h *Handler) eventsSince(ctx context.Context, since, notBefore time.Time) ([]store.Event, time.Time, error) {
	r := &h.reads
	r.mu.Lock()
	if r.at.After(notBefore) && !r.since.After(since) {
		evs, at := r.evs, r.at
		r.mu.Unlock()
		return evs, at, nil
	}
	r.mu.Unlock()
	at := time.Now()
	evs, err := h.cfg.Feed.ListEvents(ctx, store.EventFilter{Since: since})
	if err != nil {
		return nil, at, err
	}
	r.mu.Lock()
	if at.After(r.at) {
		r.at, r.since, r.evs = at, since, evs
	}
	r.mu.Unlock()
	return evs, at, nil
}

// changeMsg is the data of a resource or target message.
type changeMsg struct {
	Seq      int64                    `json:"seq"`
	Change   store.ChangeKind         `json:"change"`
	ID       string                   `json:"id,omitempty"`
	Resource *controller.ResourceView `json:"resource,omitempty"`
	Target   *string                  `json:"target,omitempty"`
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-h.streams:
			cancel()
		case <-ctx.Done():
		}
	}()

	s := &stream{h: h, rc: http.NewResponseController(w), sent: map[int64]int{}}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	resumed := last != ""
	var reset string
	if resumed {
		c, err := parseCursor(last)
		if err != nil {
			return err
		}
		s.cur = c
	} else if err := s.fresh(ctx); err != nil {
		return err
	}
	changes, err := h.cfg.Feed.Watch(ctx, s.cur.seq)
	if errors.Is(err, store.ErrCompacted) {
		reset = "the changes after " + strconv.FormatInt(s.cur.seq, 10) + " are no longer kept"
		if err = s.fresh(ctx); err == nil {
			changes, err = h.cfg.Feed.Watch(ctx, s.cur.seq)
		}
	}
	if err != nil {
		return err
	}

	// A stream outlives every timeout but its writes'.
	_ = s.rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.w = bufio.NewWriter(w)
	fmt.Fprintf(s.w, "retry: %d\n: stream from %s\n\n", h.cfg.Retry.Milliseconds(), s.cur)
	if err := s.flush(); err != nil {
		return nil
	}
	if reset != "" {
		if err := s.send("reset", map[string]string{"reason": reset}); err != nil {
			return nil
		}
	}
	if resumed {
		if err := s.events(ctx, true); err != nil {
			return nil
		}
	}

	poll := time.NewTicker(h.cfg.EventPoll)
	defer poll.Stop()
	beat := time.NewTicker(h.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			fmt.Fprintf(s.w, ": heartbeat %s\n\n", time.Now().UTC().Format(time.RFC3339))
			if err := s.flush(); err != nil {
				return nil
			}
		case <-poll.C:
			if err := s.events(ctx, false); err != nil {
				return nil
			}
		case ch, ok := <-changes:
			if !ok {
				return nil
			}
			// The changes ready now, then the events they came with.
			for more := true; more; {
				if ch.Err != nil {
					if !errors.Is(ch.Err, store.ErrCompacted) {
						h.cfg.Logger.Warn("stream: the watch ended", "err", ch.Err)
						return nil
					}
					if changes, err = s.restart(ctx, "the stream fell behind the changes the store keeps"); err != nil {
						return nil
					}
					break
				}
				if err := s.change(ch); err != nil {
					return nil
				}
				select {
				case ch, more = <-changes:
				default:
					more = false
				}
			}
			if err := s.events(ctx, true); err != nil {
				return nil
			}
		}
	}
}

// fresh sets the cursor to now: the latest change, and the events of the
// log taken as sent.
func (s *stream) fresh(ctx context.Context) error {
	seq, err := s.h.cfg.Feed.LastSeq(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	evs, err := s.h.cfg.Feed.ListEvents(ctx, store.EventFilter{Since: now.Add(-eventSlack)})
	if err != nil {
		return err
	}
	s.cur = cursor{seq: seq, seen: now.UnixNano()}
	clear(s.sent)
	for _, e := range evs {
		s.cur.event = max(s.cur.event, e.ID)
		s.cur.seen = max(s.cur.seen, e.LastSeen.UnixNano())
		s.sent[e.ID] = e.Count
	}
	return nil
}

// restart sends a reset and watches again from the latest change.
func (s *stream) restart(ctx context.Context, why string) (<-chan store.Change, error) {
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	ch, err := s.h.cfg.Feed.Watch(ctx, s.cur.seq)
	if err != nil {
		return nil, err
	}
	return ch, s.send("reset", map[string]string{"reason": why})
}

func (s *stream) change(ch store.Change) error {
	if ch.Seq <= s.cur.seq {
		return nil
	}
	s.cur.seq = ch.Seq
	m := changeMsg{Seq: ch.Seq, Change: ch.Kind, ID: ch.ID}
	switch ch.Kind {
	case store.ChangeTarget:
		t := ch.Target
		m.Target = &t
		return s.send("target", m)
	case store.ChangePut:
		if ch.Record != nil {
			v := controller.Resource(*ch.Record)
			m.Resource = &v
		}
	}
	return s.send("resource", m)
}

// events sends the events recorded or repeated since the cursor, from a
// read of the log that began after the one used before (fresh: after
// now).
func (s *stream) events(ctx context.Context, fresh bool) error {
	since := time.Unix(0, s.cur.seen).Add(-eventSlack)
	notBefore := s.read
	if fresh {
		notBefore = time.Now()
	}
	evs, at, err := s.h.eventsSince(ctx, since, notBefore)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.h.cfg.Logger.Warn("stream: read the events", "err", err)
		return nil // read again at the next poll
	}
	s.read = at
	for _, e := range evs {
		seen := e.LastSeen.UnixNano()
		count, known := s.sent[e.ID]
		if known && count == e.Count {
			continue
		}
		if !known && e.ID <= s.cur.event && seen <= s.cur.seen {
			continue // sent before the client reconnected
		}
		s.sent[e.ID] = e.Count
		s.cur.event = max(s.cur.event, e.ID)
		s.cur.seen = max(s.cur.seen, seen)
		if err := s.send("event", e); err != nil {
			return err
		}
	}
	// Forget the events the next read cannot list again unless repeated.
	if len(s.sent) > 1024 {
		keep := make(map[int64]int, len(evs))
		floor := time.Unix(0, s.cur.seen).Add(-eventSlack)
		for _, e := range evs {
			if !e.LastSeen.Before(floor) {
				keep[e.ID] = e.Count
			}
		}
		s.sent = keep
	}
	return nil
}

// send writes one message, with the cursor after it as its id, and
// flushes it.
func (s *stream) send(event string, data any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return err
	}
	fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", s.cur, event, bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return s.flush()
}

func (s *stream) flush() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if err := s.w.Flush(); err != nil {
		return err
	}
	return s.rc.Flush()
}
