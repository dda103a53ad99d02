package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/convergehq/converge/store"
)

const eventColumns = `id, resource, type, reason, message, revision, count, first_seen, last_seen`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(s scanner) (store.Event, error) {
	var e store.Event
	var first, last int64
	if err := s.Scan(&e.ID, &e.Resource, &e.Type, &e.Reason, &e.Message, &e.Revision, &e.Count, &first, &last); err != nil {
		return store.Event{}, err
	}
	e.FirstSeen, e.LastSeen = fromNanos(first), fromNanos(last)
	return e, nil
}

// AddEvent stores e, or aggregates it into the event with the same
// resource, type, reason and message: that event's Count grows by e.Count
// (at least 1), its LastSeen moves to e.LastSeen when later and its
// Revision to e.Revision when set; FirstSeen is kept. A zero LastSeen means
// now, a zero FirstSeen means LastSeen. It returns the stored event once
// the write committed.
func (d *DB) AddEvent(ctx context.Context, e store.Event) (store.Event, error) {
	if e.Count < 1 {
		e.Count = 1
	}
	if e.LastSeen.IsZero() {
		e.LastSeen = d.now()
	}
	if e.FirstSeen.IsZero() {
		e.FirstSeen = e.LastSeen
	}
	var got store.Event
	err := d.write(ctx, func(t *txn) error {
		row := t.stmt(d.addEvent).QueryRowContext(t.ctx, e.Resource, e.Type, e.Reason, e.Message, e.Revision,
			e.Count, e.FirstSeen.UnixNano(), e.LastSeen.UnixNano())
		var err error
		got, err = scanEvent(row)
		return err
	})
	if err != nil {
		return store.Event{}, fmt.Errorf("add event %s %s: %w", e.Resource, e.Reason, err)
	}
	return got, nil
}

// AddEventDeferred records e like AddEvent without waiting for the commit.
func (d *DB) AddEventDeferred(e store.Event) {
	if e.Count < 1 {
		e.Count = 1
	}
	if e.LastSeen.IsZero() {
		e.LastSeen = d.now()
	}
	if e.FirstSeen.IsZero() {
		e.FirstSeen = e.LastSeen
	}
	d.writeDeferred("add event "+e.Resource+" "+string(e.Reason), func(t *txn) error {
		_, err := t.stmt(d.addEventExec).ExecContext(t.ctx, e.Resource, e.Type, e.Reason, e.Message, e.Revision,
			e.Count, e.FirstSeen.UnixNano(), e.LastSeen.UnixNano())
		return err
	})
}

// ListEvents returns the events f selects, oldest (by LastSeen) first. With
// a Limit it returns the newest Limit of them, still oldest first.
func (d *DB) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	if err := d.readable(ctx); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	var where []string
	var args []any
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	if !f.Since.IsZero() {
		where = append(where, "last_seen >= ?")
		args = append(args, f.Since.UnixNano())
	}
	q := `SELECT ` + eventColumns + ` FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		q = `SELECT * FROM (` + q + ` ORDER BY last_seen DESC, id DESC LIMIT ?) ORDER BY last_seen, id`
		args = append(args, f.Limit)
	} else {
		q += ` ORDER BY last_seen, id`
	}
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// PruneEvents deletes the events last seen before the given time. It
// returns once the write committed.
func (d *DB) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := d.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(t.ctx, `DELETE FROM events WHERE last_seen < ?`, before.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return int(n), nil
}
