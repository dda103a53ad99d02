// Package memory is an in-memory store.Store for tests, dry runs and
// single-shot commands that need no state file.
//
// Guarantees, beyond those of package store:
//   - Callers never alias stored data: every write stores a copy and every
//     read returns one, so mutating a Record after PutRecord or after
//     GetRecord does not change what is stored.
//   - Values come back exactly as a durable store gives them back: a record
//     is round-tripped through JSON on write, so maps hold provider.Canonical
//     values (integral numbers as int64) and empty fields read back as nil.
//   - "Durable" here means for the life of the Store; nothing survives the
//     process.
//   - Watch delivers every change, none collapsed, from a log of the newest
//     10000 (see WithChangeRetention); writers never wait for watchers.
package memory
