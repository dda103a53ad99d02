package pgtest_test

import (
	"testing"

	"github.com/convergehq/converge/providers/postgres/pgtest"
)

// TestStart starts a private server, runs a query on it, and stops it:
// after Stop nothing accepts connections on its port.
func TestStart(t *testing.T) {
	s := pgtest.Start(t)
	var one int
	if err := s.QueryRow(t, "postgres", "SELECT 1", nil, &one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v; want 1", one, err)
	}
	if s.Version < 10 {
		t.Errorf("Version = %d; want the server's major version", s.Version)
	}
	s.Stop()
	if err := s.TryExec("postgres", "SELECT 1"); err == nil {
		t.Error("the server still answers after Stop")
	}
}
