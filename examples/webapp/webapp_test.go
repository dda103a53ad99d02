// Package webapp_test runs examples/webapp as its README does: the
// converge binary and the service built, a private PostgreSQL server, the
// manifests of examples/webapp/manifests applied, the service killed by
// hand and restarted, an edit, a destroy; and converge apply killed -9 in
// the middle of an apply, twice.
package webapp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/providers/postgres/pgtest"
)

// The resource IDs the manifests declare.
const (
	roleID     = "postgres.Role/app"
	databaseID = "postgres.Database/webapp"
	grantID    = "postgres.Grant/app-public"
	serviceID  = "process.Process/webapp"
)

// example is one run of the example: a scratch directory holding the
// binaries, a copy of the manifests and the state, and the environment
// the README exports.
type example struct {
	t         *testing.T
	srv       *pgtest.Server
	dir       string // the working directory of every converge command
	converge  string // the converge binary
	service   string // bin/webapp
	manifests string
	port      int
	env       []string
}

// setup builds converge and the service (as the README says: go build
// -o bin/webapp), starts a private PostgreSQL server, and copies the
// manifests with the service on a free port and its log in the scratch
// directory, so that runs on one machine do not collide.
func setup(t *testing.T) *example {
	t.Helper()
	if testing.Short() {
		t.Skip("builds converge and runs the example against PostgreSQL")
	}
	srv := pgtest.Start(t) // skips, or fails with CONVERGE_REQUIRE_POSTGRES=1, without PostgreSQL
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	e := &example{t: t, srv: srv, dir: dir, converge: filepath.Join(bin, "converge"), service: filepath.Join(bin, "webapp"), manifests: filepath.Join(dir, "manifests")}
	for out, pkg := range map[string]string{e.converge: "../../cmd/converge", e.service: "./service"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build -o %s %s: %v\n%s", out, pkg, err, b)
		}
	}
	e.port = freePort(t)
	if err := os.Mkdir(e.manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("manifests/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in examples/webapp/manifests: %v", err)
	}
	subst := map[string]string{"8080": strconv.Itoa(e.port), "/tmp/webapp.log": filepath.Join(dir, "webapp.log")}
	found := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for from, to := range subst {
			found[from] += strings.Count(s, from)
			s = strings.ReplaceAll(s, from, to)
		}
		if err := os.WriteFile(filepath.Join(e.manifests, filepath.Base(f)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The port is in PORT and in the health check's URL; the log path once.
	if found["8080"] != 2 || found["/tmp/webapp.log"] != 1 {
		t.Fatalf("the manifests name port 8080 %d times and /tmp/webapp.log %d times; want 2 and 1 (the test moves them)", found["8080"], found["/tmp/webapp.log"])
	}
	// converge's environment: the README's two variables and bin/ on the
	// PATH, and none of libpq's or converge's own from the test's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "WEBAPP_") && !strings.HasPrefix(kv, "CONVERGE_") {
			e.env = append(e.env, kv)
		}
	}
	e.env = append(e.env,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PGDSN="+srv.DSN("postgres"),
		"WEBAPP_DB_PASSWORD="+randomHex(16),
	)
	t.Cleanup(e.killServices)
	return e
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// command returns converge with args, in the scratch directory, with the
// example's environment.
func (e *example) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.converge, args...)
	cmd.Dir, cmd.Env = e.dir, e.env
	return cmd
}

// run runs converge to its end and returns what it printed; it fails the
// test when converge fails.
func (e *example) run(args ...string) (stdout, stderr string) {
	e.t.Helper()
	stdout, stderr, err := e.try(args...)
	if err != nil {
		e.t.Fatalf("converge %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

func (e *example) try(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb strings.Builder
	cmd := e.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// started is a converge command running in the background.
type started struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited
	err  error         // its Wait, once done
	log  string        // the file its stderr goes to
}

// start starts converge with args in the background, its output in a file
// of the scratch directory; it is killed when the test ends.
func (e *example) start(name string, args ...string) *started {
	e.t.Helper()
	log := filepath.Join(e.dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	cmd := e.command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &started{cmd: cmd, done: make(chan struct{}), log: log}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

func (s *started) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// killed kills s with SIGKILL and checks that this kill is what ended it.
func (s *started) kill(t *testing.T) {
	t.Helper()
	if s.exited() {
		t.Fatalf("%s exited before the kill: %v\n%s", s.cmd, s.err, s.output())
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	var exit *exec.ExitError
	if !errors.As(s.err, &exit) {
		t.Fatalf("%s after kill -9: %v; want killed by SIGKILL", s.cmd, s.err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended %v, not by the kill -9\n%s", s.cmd, s.err, s.output())
	}
}

func (s *started) output() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// status is what converge status -o json says of the example's resources.
type status struct {
	Resources []struct {
		ID      string         `json:"id"`
		Phase   string         `json:"phase"`
		Origin  string         `json:"origin"`
		Outputs map[string]any `json:"outputs"`
	} `json:"resources"`
}

func (e *example) status() status {
	e.t.Helper()
	out, _ := e.run("status", "-o", "json")
	var s status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("converge status -o json: %v\n%s", err, out)
	}
	return s
}

// requireReady checks that status shows the four resources Ready, created
// by converge, and returns the service's pid.
func (e *example) requireReady() int {
	e.t.Helper()
	pid, err := e.ready()
	if err != nil {
		e.t.Fatal(err)
	}
	return pid
}

// ready returns the service's pid when status shows the four resources
// Ready, created by converge, and what differs otherwise.
func (e *example) ready() (int, error) {
	e.t.Helper()
	var ids, wrong []string
	pid := 0
	for _, r := range e.status().Resources {
		ids = append(ids, r.ID)
		if r.Phase != "Ready" || r.Origin != "created" {
			wrong = append(wrong, fmt.Sprintf("%s: phase %s, origin %s", r.ID, r.Phase, r.Origin))
		}
		if r.ID == serviceID {
			p, _ := r.Outputs["pid"].(float64)
			pid = int(p)
		}
	}
	if want := []string{databaseID, grantID, roleID, serviceID}; !slices.Equal(ids, want) {
		return 0, fmt.Errorf("converge status lists %v; want %v", ids, want)
	}
	if len(wrong) > 0 {
		return 0, fmt.Errorf("want every resource Ready and created by converge: %s", strings.Join(wrong, "; "))
	}
	if pid <= 0 {
		return 0, fmt.Errorf("%s has no pid output", serviceID)
	}
	return pid, nil
}

// services returns the pids of the processes that run the service
// binary this test built (zombies aside: their exe cannot be read).
func (e *example) services() []int {
	e.t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		e.t.Fatal(err)
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe")); err == nil && exe == e.service {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// alive reports whether pid runs: it exists and is not a zombie (a
// process whose parent exited is reaped by init, in its own time).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z"
}

// killServices kills what is left of the service when the test ends.
func (e *example) killServices() {
	for _, pid := range e.services() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// get asks the service for path and returns the status code (0 when it
// does not answer) and the body.
func (e *example) get(path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", e.port, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// requireVisit checks that GET / counts visit n, as app in webapp.
func (e *example) requireVisit(n int) {
	e.t.Helper()
	want := fmt.Sprintf("connected to database webapp as app; visit %d\n", n)
	if code, body := e.get("/"); code != http.StatusOK || body != want {
		e.t.Fatalf("GET /: %d %q; want 200 %q", code, body, want)
	}
}

// eventually polls cond every 10ms until it holds, for d at most.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// names runs a query that returns one text column and returns its rows.
func (e *example) names(db, sql string) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, e.srv.ConnConfig(db))
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, sql)
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// What exists on the server besides what initdb made.
const (
	rolesSQL     = `SELECT rolname FROM pg_roles WHERE rolname <> 'postgres' AND rolname NOT LIKE 'pg\_%' ORDER BY 1`
	databasesSQL = `SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1`
)

// requireServer checks the roles and databases the server holds besides
// its own.
func (e *example) requireServer(roles, databases []string) {
	e.t.Helper()
	if got := e.names("postgres", rolesSQL); !slices.Equal(got, roles) {
		e.t.Errorf("roles on the server: %v; want %v", got, roles)
	}
	if got := e.names("postgres", databasesSQL); !slices.Equal(got, databases) {
		e.t.Errorf("databases on the server: %v; want %v", got, databases)
	}
}

// destroy deletes everything the example made. converge destroy does not
// configure the providers with the ProviderConfigs of the revision it
// leaves (the postgres provider then refuses every call), so this applies
// the ProviderConfig alone, which deletes every resource, dependents
// first, as the README says.
func (e *example) destroy() string {
	e.t.Helper()
	stdout, _ := e.run("destroy", "--yes")
	return stdout
}

// revoked is the statement that deletes the grant (its create revokes ALL).
var revoked = regexp.MustCompile(`REVOKE (CREATE|USAGE), (CREATE|USAGE) ON SCHEMA "public" FROM "app" CASCADE`)

// requireGone checks that destroy left nothing: no process, no role, no
// database, and that the grant was revoked before the database went.
func (e *example) requireGone(oldPIDs ...int) {
	e.t.Helper()
	if pids := e.services(); len(pids) > 0 {
		e.t.Errorf("service processes left after destroy: %v", pids)
	}
	for _, pid := range oldPIDs {
		if alive(pid) {
			e.t.Errorf("pid %d still runs after destroy", pid)
		}
	}
	e.requireServer(nil, nil)
	// In the server's log: the grant revoked, then the database dropped,
	// then the role.
	log := e.srv.Log()
	at := revoked.FindStringIndex(log)
	dropDB, dropRole := strings.LastIndex(log, `DROP DATABASE IF EXISTS "webapp"`), strings.LastIndex(log, `DROP ROLE IF EXISTS "app"`)
	if at == nil || dropDB < 0 || dropRole < 0 || at[0] > dropDB || dropDB > dropRole {
		e.t.Errorf("the server's log holds the grant's revoke at %v, the database's drop at %d, the role's at %d; want all three, in that order", at, dropDB, dropRole)
	}
	if s := e.status(); len(s.Resources) != 0 {
		e.t.Errorf("converge status after destroy lists %d resources; want none", len(s.Resources))
	}
}

// TestWebappTour runs examples/webapp/README.md: apply until Ready, visit
// the service, kill it by hand and watch converge run restart it at once
// (its resync is an hour: only the process provider's notification can),
// edit the service's environment and watch it restart gracefully, stop
// converge with the service left running and find it again, destroy.
func TestWebappTour(t *testing.T) {
	e := setup(t)

	stdout, stderr := e.run("apply", "-f", e.manifests)
	if !strings.Contains(stdout, "Apply: 4 resources Ready") || !strings.Contains(stdout, "4 creates") {
		t.Fatalf("apply: %s\n%s", stdout, stderr)
	}
	if strings.Contains(stdout+stderr, e.envValue("WEBAPP_DB_PASSWORD")) {
		t.Errorf("apply printed the password:\n%s\n%s", stdout, stderr)
	}
	first := e.requireReady()
	if pids := e.services(); !slices.Equal(pids, []int{first}) {
		t.Fatalf("service processes %v; want the one status names, %d", pids, first)
	}
	e.requireVisit(1)
	e.requireVisit(2)
	e.requireServer([]string{"app"}, []string{"webapp"})

	// A second apply changes nothing and starts nothing.
	if stdout, _ := e.run("apply", "-f", e.manifests); !strings.Contains(stdout, "0 creates, 0 updates, 0 deletes") {
		t.Errorf("second apply: %s", stdout)
	}

	run := e.start("run", "run", "-f", e.manifests, "--resync", "1h", "--listen", "")
	eventually(t, "converge run's first pass", time.Minute, func() bool {
		return strings.Contains(run.output(), "revision converged")
	})
	if got := e.requireReady(); got != first {
		t.Fatalf("converge run started the service again: pid %d, was %d", got, first)
	}

	// kill -9 by hand: the provider hears of the exit and the engine
	// starts the service again, long before any resync.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var second int
	took := eventually(t, "the service restarted after kill -9", 30*time.Second, func() bool {
		pids := e.services()
		if len(pids) != 1 || pids[0] == first {
			return false
		}
		second = pids[0]
		code, _ := e.get("/healthz")
		return code == http.StatusOK
	})
	t.Logf("kill -9 to a restarted, healthy service: %s", took.Round(time.Millisecond))
	eventually(t, "status shows the new pid, Ready", 30*time.Second, func() bool {
		pid, err := e.ready()
		return err == nil && pid == second
	})
	e.requireVisit(3) // the counter is in the database: it survives the service
	if log := run.output(); !strings.Contains(log, `msg="deleted out of band" reason=DriftDetected resource=`+serviceID) {
		t.Errorf("converge run did not report the kill as drift:\n%s", log)
	}

	// An edit of the service's environment: the old process is asked to
	// stop (SIGTERM) and the new one started with the new DSN.
	before := run.output()
	e.edit("service.yaml", "application_name=webapp", "application_name=webapp-v2")
	var third int
	eventually(t, "the service restarted after the edit", 30*time.Second, func() bool {
		pids := e.services()
		if len(pids) != 1 || pids[0] == second {
			return false
		}
		third = pids[0]
		code, _ := e.get("/healthz")
		return code == http.StatusOK
	})
	eventually(t, "converge run converges the edit", 30*time.Second, func() bool {
		return strings.Count(run.output(), "revision converged") >= 2
	})
	after := strings.TrimPrefix(run.output(), before)
	if !strings.Contains(after, "updated: env.DATABASE_URL") {
		t.Errorf("converge run did not update the service for the edit:\n%s", after)
	}
	// Graceful: SIGKILL comes only after stopTimeout, and is logged; an
	// exit other than the one asked for is logged as "process exited".
	if strings.Contains(after, "did not stop within its grace period") || strings.Contains(after, "process exited") {
		t.Errorf("the service did not stop gracefully on the edit:\n%s", after)
	}
	if strings.Contains(run.output(), e.envValue("WEBAPP_DB_PASSWORD")) {
		t.Errorf("converge run logged the password")
	}
	e.requireVisit(4)
	if got := e.names("postgres", `SELECT application_name FROM pg_stat_activity WHERE usename = 'app'`); !slices.Equal(got, []string{"webapp-v2"}) {
		t.Errorf("the service's connections are named %v; want [webapp-v2] (the edited DSN)", got)
	}

	// converge stops; the service it supervises runs on.
	if err := run.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-run.done
	if run.err != nil {
		t.Fatalf("converge run on SIGTERM: %v\n%s", run.err, run.output())
	}
	if pids := e.services(); !slices.Equal(pids, []int{third}) {
		t.Fatalf("service processes once converge stopped: %v; want [%d]", pids, third)
	}
	e.requireVisit(5)
	// A converge started again finds it, and starts nothing.
	if stdout, _ := e.run("apply", "-f", e.manifests); !strings.Contains(stdout, "0 creates, 0 updates, 0 deletes") {
		t.Errorf("apply after converge run stopped: %s", stdout)
	}
	if got := e.requireReady(); got != third {
		t.Errorf("status names pid %d once converge started again; want %d", got, third)
	}

	out := e.destroy()
	if !strings.Contains(out, "4 deletes") {
		t.Errorf("destroy: %s", out)
	}
	e.requireGone(first, second, third)
}

// TestWebappInterruptedApply kills converge apply -9 twice in the middle
// of applying the example: while the server runs its CREATE DATABASE,
// and while the service it started fails its health check. The apply
// after that converges with exactly one role, one database and one
// service process, the one the killed apply started.
func TestWebappInterruptedApply(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	// CREATE DATABASE waits (up to 5s) while another session is
	// connected to its template: that holds it in flight.
	tmpl, err := pgx.ConnectConfig(ctx, e.srv.ConnConfig("template1"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmpl.Close(ctx)
	apply := e.start("apply-1", "apply", "-f", e.manifests)
	var backend string
	eventually(t, "converge's CREATE DATABASE in flight", time.Minute, func() bool {
		if apply.exited() {
			t.Fatalf("apply exited before creating the database: %v\n%s", apply.err, apply.output())
		}
		got := e.names("postgres", `SELECT pid::text FROM pg_stat_activity WHERE application_name = 'converge' AND state = 'active' AND query LIKE 'CREATE DATABASE "webapp"%'`)
		if len(got) == 1 {
			backend = got[0]
		}
		return backend != ""
	})
	apply.kill(t)
	// The kill landed mid-operation: the statement still runs, and the
	// database does not exist yet.
	if got := e.names("postgres", `SELECT query FROM pg_stat_activity WHERE state = 'active' AND pid = `+backend); len(got) != 1 {
		t.Fatalf("the CREATE DATABASE is no longer running once converge was killed: %v", got)
	}
	e.requireServer([]string{"app"}, nil)
	// Its template free, the statement completes, and its answer is lost
	// with the converge that sent it.
	tmpl.Close(ctx)
	eventually(t, "the orphaned CREATE DATABASE ends", 30*time.Second, func() bool {
		return len(e.names("postgres", `SELECT pid::text FROM pg_stat_activity WHERE pid = `+backend)) == 0
	})
	e.requireServer([]string{"app"}, []string{"webapp"})

	// The database refuses the service's connections for now (a grant
	// converge does not manage): the service starts, and its health check
	// fails.
	e.srv.Exec(t, "postgres", `REVOKE CONNECT ON DATABASE webapp FROM PUBLIC, app`)
	apply = e.start("apply-2", "apply", "-f", e.manifests)
	var pid int
	eventually(t, "the service started, and failing its health check", time.Minute, func() bool {
		if apply.exited() {
			t.Fatalf("apply exited while the service was not healthy: %v\n%s", apply.err, apply.output())
		}
		pids := e.services()
		if len(pids) != 1 {
			return false
		}
		pid = pids[0]
		code, _ := e.get("/healthz")
		return code == http.StatusServiceUnavailable
	})
	apply.kill(t)
	if log := apply.output(); strings.Contains(log, "converged") {
		t.Fatalf("the killed apply had converged:\n%s", log)
	}
	e.srv.Exec(t, "postgres", `GRANT CONNECT ON DATABASE webapp TO PUBLIC, app`)

	stdout, stderr := e.run("apply", "-f", e.manifests)
	if !strings.Contains(stdout, "Apply: 4 resources Ready") {
		t.Fatalf("apply after the kills: %s\n%s", stdout, stderr)
	}
	if got := e.requireReady(); got != pid {
		t.Errorf("status names pid %d; want %d, the service the killed apply started", got, pid)
	}
	if pids := e.services(); !slices.Equal(pids, []int{pid}) {
		t.Errorf("service processes %v; want exactly [%d]", pids, pid)
	}
	e.requireServer([]string{"app"}, []string{"webapp"})
	e.requireVisit(1)

	e.destroy()
	e.requireGone(pid)
}

// edit replaces old with new in one of the copied manifests.
func (e *example) edit(file, old, new string) {
	e.t.Helper()
	p := filepath.Join(e.manifests, file)
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if strings.Count(string(b), old) != 1 {
		e.t.Fatalf("%s holds %q %d times; want once", file, old, strings.Count(string(b), old))
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *example) envValue(name string) string {
	for i := len(e.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(e.env[i], name+"="); ok {
			return v
		}
	}
	return ""
}
