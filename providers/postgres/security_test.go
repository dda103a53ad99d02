package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/postgres"
	"github.com/convergehq/converge/providers/postgres/pgtest"
)

// hostile are strings that break naive quoting.
var hostile = []string{
	`plain`,
	`it's`,
	`a"; DROP ROLE x; --`,
	`'; DROP ROLE x; --`,
	`back\slash`,
	`back\'slash`,
	`\\`,
	`$$dollar$$`,
	`$tag$ x $tag$`,
	"new\nline\ttab",
	`E'x'`,
	`unicodé ✓`,
	`'`,
	``,
}

func TestLiteral(t *testing.T) {
	tests := map[string]string{
		`plain`:      `'plain'`,
		`it's`:       `'it''s'`,
		`back\slash`: `E'back\\slash'`,
		`\'`:         `E'\\'''`,
		``:           `''`,
	}
	for in, want := range tests {
		if got := postgres.Literal(in); got != want {
			t.Errorf("literal(%q) = %s; want %s", in, got, want)
		}
	}
}

// TestLiteralReadsBack sends each hostile string as a literal and reads
// it back, under both settings of standard_conforming_strings.
func TestLiteralReadsBack(t *testing.T) {
	srv := pgtest.Shared(t)
	c := srv.Connect(t, "postgres")
	ctx := t.Context()
	for _, scs := range []string{"on", "off"} {
		if _, err := c.Exec(ctx, "SET standard_conforming_strings = "+scs); err != nil {
			t.Fatal(err)
		}
		for _, s := range hostile {
			var got string
			// The literal is in the statement's text: the server parses
			// it as written, as it does DDL.
			if err := c.QueryRow(ctx, "SELECT "+postgres.Literal(s)+"::text").Scan(&got); err != nil {
				t.Errorf("standard_conforming_strings=%s: SELECT %s: %v", scs, postgres.Literal(s), err)
				continue
			}
			if got != s {
				t.Errorf("standard_conforming_strings=%s: SELECT %s = %q; want %q", scs, postgres.Literal(s), got, s)
			}
		}
	}
}

// TestSCRAMMatchesTheServer: the server hashes a password itself (here
// only, to check converge's computation against it); converge's check of
// that verifier accepts the password and refuses others, ASCII or not.
func TestSCRAMMatchesTheServer(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, pw := range []string{"pencil", "correct horse battery staple", "pässwörd-ü", "ＦＵＬＬＷＩＤＴＨ", "a'b\\c\"d", "non\u00a0breaking", "soft\u00adhyphen", "ﬁne-ligature", "שלום-עולם", "Ω-ohm\u2126"} {
		name := pgtest.Name("scram")
		role(t, srv, name, "LOGIN PASSWORD "+postgres.Literal(pw))
		var stored string
		if err := srv.QueryRow(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = $1", []any{name}, &stored); err != nil {
			t.Fatal(err)
		}
		if !postgres.ParseSCRAM(stored) {
			t.Fatalf("the server stored %q, not a SCRAM-SHA-256 verifier: the premise fails", stored[:14])
		}
		if !postgres.PasswordMatches(&stored, pw, name) {
			t.Errorf("password %q: converge's check refuses the server's own verifier of it", pw)
		}
		if postgres.PasswordMatches(&stored, pw+"x", name) {
			t.Errorf("password %q: converge's check accepts another password", pw)
		}
	}
	if postgres.PasswordMatches(nil, "x", "r") || !postgres.PasswordMatches(nil, "", "r") {
		t.Error("no stored password: want a match for \"\" only")
	}
	md5 := "md5" + "5f4dcc3b5aa765d61d8327deb882cf99" // md5("password"), role ""
	if !postgres.PasswordMatches(&md5, "password", "") || postgres.PasswordMatches(&md5, "other", "") {
		t.Error("an MD5 verifier is not compared right")
	}
}

// TestPasswordSentAsVerifier: a role made by the provider logs in over
// TCP with SCRAM-SHA-256 with its password, not with another; the
// server's statement log (every statement is logged) never holds the
// password; and nothing the provider returned does.
func TestPasswordSentAsVerifier(t *testing.T) {
	srv := pgtest.Shared(t)
	p := newProvider(t, srv, "postgres")
	name := pgtest.Name("login")
	t.Cleanup(func() { dropRole(srv, name) })
	for _, pw := range []string{"first-Secret-password", "sécond-secret'pass\\word"} {
		spec := applied(t, p, "postgres.Role", map[string]any{"name": name, "login": true, "password": pw})
		req := request("postgres.Role", name, spec)
		res, err := p.Create(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		obs, err := p.Observe(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if obs.State["password"] != pw {
			t.Errorf("observed password after the create = %v; want the desired value (it matches)", obs.State["password"])
		}
		login := func(password string) error {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			cfg, err := pgx.ParseConfig(srv.DSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.User, cfg.Password = name, password
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err == nil {
				c.Close(ctx)
			}
			return err
		}
		if err := login(pw); err != nil {
			t.Errorf("login with the password the provider set: %v", err)
		}
		err = login(pw + "-wrong")
		var pe *pgconn.PgError
		if err == nil || !strings.Contains(err.Error(), "28P01") && !(errorsAs(err, &pe) && pe.Code == "28P01") {
			t.Errorf("login with another password: %v; want SQLSTATE 28P01 (the server checks passwords: the premise)", err)
		}
		for what, text := range map[string]string{"the server's log": srv.Log(), "outputs and private": fmtAny(res.Outputs) + fmtAny(res.Private) + fmtAny(obs.Outputs) + fmtAny(obs.Private)} {
			if strings.Contains(text, pw) {
				t.Errorf("%s holds the password %q", what, pw)
			}
		}
		if !strings.Contains(srv.Log(), "SCRAM-SHA-256$4096:") {
			t.Error("the server's log shows no verifier sent: the premise (statements are logged) fails")
		}
	}
}

// TestPasswordDrift: a password changed by hand shows as the marker, and
// Update sets it back; a password that still matches is not sent again
// (the verifier stays the same).
func TestPasswordDrift(t *testing.T) {
	srv := pgtest.Shared(t)
	p := newProvider(t, srv, "postgres")
	name := pgtest.Name("drift")
	t.Cleanup(func() { dropRole(srv, name) })
	req := request("postgres.Role", name, applied(t, p, "postgres.Role", map[string]any{"name": name, "login": true, "password": "the-desired-one"}))
	if _, err := p.Create(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	verifier := func() string {
		var v string
		if err := srv.QueryRow(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = $1", []any{name}, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := verifier()
	if _, err := p.Update(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if verifier() != first {
		t.Error("an Update with the same password wrote a new verifier")
	}
	srv.Exec(t, "postgres", "ALTER ROLE "+q(name)+" PASSWORD 'changed-by-hand'")
	obs, err := p.Observe(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs.State["password"]; got != postgres.PasswordDiffers {
		t.Fatalf("observed password after a change by hand = %v; want the marker %q", got, postgres.PasswordDiffers)
	}
	if _, err := p.Update(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if obs, _ := p.Observe(t.Context(), req); obs.State["password"] != "the-desired-one" {
		t.Errorf("observed password after Update = %v; want it set back", obs.State["password"])
	}
}

// TestPasswordNotReadable: connected as a role that may create roles but
// not read pg_authid, the provider sets passwords and observes no
// password at all (no drift), without an error.
func TestPasswordNotReadable(t *testing.T) {
	srv := pgtest.Shared(t)
	// The password has what a keyword/value connection string quotes.
	const managerPassword = `it's a \ "manager" password`
	manager := role(t, srv, pgtest.Name("manager"), "LOGIN CREATEROLE PASSWORD "+postgres.Literal(managerPassword))
	cfg := srv.Config()
	cfg["user"], cfg["password"] = manager, managerPassword
	p := configured(t, cfg, "postgres")
	name := pgtest.Name("managed")
	t.Cleanup(func() { dropRole(srv, name) })
	req := request("postgres.Role", name, applied(t, p, "postgres.Role", map[string]any{"name": name, "login": true, "password": "managed-password"}))
	if _, err := p.Create(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	// An Update before any Observe: its read of pg_authid is refused,
	// and must not spoil the statements after it.
	if _, err := p.Update(t.Context(), req); err != nil {
		t.Fatalf("Update without access to pg_authid: %v", err)
	}
	obs, err := p.Observe(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !obs.Exists {
		t.Fatal("the role is not found")
	}
	if v, ok := obs.State["password"]; ok {
		t.Errorf("observed password %v without access to pg_authid; want none (not compared)", v)
	}
	var stored string
	if err := srv.QueryRow(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = $1", []any{name}, &stored); err != nil || !postgres.PasswordMatches(&stored, "managed-password", name) {
		t.Errorf("the stored verifier is not that of the password (%v)", err)
	}
}

// TestHostileNames creates, observes and deletes objects of every kind
// whose names are SQL injections; a role and a database called x, which
// the injections name, survive, and nothing else appears.
func TestHostileNames(t *testing.T) {
	srv := pgtest.Shared(t)
	p := newProvider(t, srv, "postgres")
	role(t, srv, "x", "NOLOGIN")
	t.Cleanup(func() { p.Close() })
	count := func() string {
		r := query(t, srv, "postgres", "SELECT (SELECT count(*) FROM pg_roles)::text || '/' || (SELECT count(*) FROM pg_database)::text")
		return r[0][0]
	}
	before := count()
	for _, evil := range []string{`a"; DROP ROLE x; --`, `b'; DROP ROLE x; --`, `c\"; DROP DATABASE x; --`, `d$$; DROP ROLE x; $$`} {
		name := evil
		roleReq := request("postgres.Role", "r", applied(t, p, "postgres.Role", map[string]any{"name": name, "login": true, "password": name + "pw'\\", "validUntil": "2030-01-01", "memberOf": []any{"x"}}))
		dbReq := request("postgres.Database", "d", applied(t, p, "postgres.Database", map[string]any{"name": name, "owner": name}))
		schemaReq := request("postgres.Schema", "s", map[string]any{"database": name, "name": name, "owner": name})
		grantReq := request("postgres.Grant", "g", applied(t, p, "postgres.Grant", map[string]any{"database": name, "role": name, "on": "schema", "objects": []any{name}, "privileges": []any{"USAGE", "CREATE"}}))
		reqs := []provider.Request{roleReq, dbReq, schemaReq, grantReq}
		for _, req := range reqs {
			if _, err := p.Create(t.Context(), req); err != nil {
				t.Fatalf("create %s %q: %v", req.Kind, name, err)
			}
			obs, err := p.Observe(t.Context(), req)
			if err != nil || !obs.Exists {
				t.Fatalf("observe %s %q = exists %v, %v; want it found", req.Kind, name, obs.Exists, err)
			}
			if n, ok := obs.State["name"]; ok && n != name {
				t.Errorf("observed %s name %q; want %q", req.Kind, n, name)
			}
		}
		if got := query(t, srv, name, "SELECT nspname FROM pg_namespace WHERE nspname = $1", name); len(got) != 1 {
			t.Errorf("schema %q is not in database %q", name, name)
		}
		for i := len(reqs) - 1; i >= 0; i-- {
			if err := p.Delete(t.Context(), reqs[i]); err != nil {
				t.Fatalf("delete %s %q: %v", reqs[i].Kind, name, err)
			}
			if obs, err := p.Observe(t.Context(), reqs[i]); err != nil || obs.Exists {
				t.Errorf("observe %s %q after delete = exists %v, %v; want absent", reqs[i].Kind, name, obs.Exists, err)
			}
		}
	}
	if after := count(); after != before {
		t.Errorf("roles/databases %s before, %s after; want the same", before, after)
	}
	if got := query(t, srv, "postgres", "SELECT rolname FROM pg_roles WHERE rolname = 'x'"); len(got) != 1 {
		t.Error("role x was dropped")
	}
}
