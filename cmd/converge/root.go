package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
	"github.com/convergehq/converge/providers/file"
	httpprovider "github.com/convergehq/converge/providers/http"
	"github.com/convergehq/converge/providers/postgres"
	"github.com/convergehq/converge/providers/process"
	"github.com/convergehq/converge/providers/terraform/install"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
)

// globals are the flags every command shares.
type globals struct {
	files      []string
	root       string
	state      string
	logFormat  string
	logLevel   string
	cloudURL   string
	cpuProfile string
	memProfile string
	color      string
	backend    storeFlags // --store and the etcd flags (store.go)

	stdout io.Writer
	stderr io.Writer
	alerts *alert.Notifier // set when --alert-webhook is given

	rootGiven    bool // --root was given, not left at its default
	announced    bool // the state was named on stderr
	historyLimit int  // the running command's --history-limit; 0 when it has none

	// beforeApply, when set, runs before the engine converges rv, and
	// stops the command with its error (apply's question on a terminal).
	beforeApply func(ctx context.Context, e *engine.Engine, rv *manifest.Revision) error

	stopProfile func()

	pluginDirs []string    // --plugin-dir
	lockFile   string      // --lock-file
	declared   declaredSet // the providers the manifests declared
}

// engineFlags are the flags of the commands that converge.
type engineFlags struct {
	workers     int
	backoffBase time.Duration
	backoffMax  time.Duration
	drift       string
	timeout     time.Duration
	webhooks    []string
	rollback    string
	deadline    time.Duration
	retention   time.Duration
	// historyLimit is read by openStore, through globals (see
	// PersistentPreRunE): the state is opened before the engine.
	historyLimit int
	// progress is --progress, of the commands that converge once.
	progress string
}

func (f *engineFlags) register(cmd *cobra.Command, timeout bool) {
	cmd.Flags().IntVar(&f.workers, "workers", 8, "resources reconciled concurrently")
	cmd.Flags().DurationVar(&f.backoffBase, "backoff-base", time.Second, "first retry delay after a failure (doubles each attempt, full jitter)")
	cmd.Flags().DurationVar(&f.backoffMax, "backoff-max", 60*time.Second, "longest retry delay")
	cmd.Flags().StringVar(&f.drift, "drift", manifest.DriftCorrect, "drift policy for resources that set none: correct, alert or ignore")
	cmd.Flags().StringArrayVar(&f.webhooks, "alert-webhook", nil, "POST a JSON alert here on drift, failures and rollbacks (repeatable)")
	cmd.Flags().StringVar(&f.rollback, "rollback", "off", "auto: when a new revision fails terminally or misses --progress-deadline, converge the last known good one again; off: never")
	cmd.Flags().DurationVar(&f.deadline, "progress-deadline", 5*time.Minute, "with --rollback auto, how long a new revision may take to converge")
	cmd.Flags().DurationVar(&f.retention, "events-retention", 30*24*time.Hour, "delete events last seen longer ago than this (0: keep them all)")
	cmd.Flags().IntVar(&f.historyLimit, historyLimitFlag, 100, "when a new revision is recorded, keep only the newest N revisions, plus the target and the last known good one (0: keep them all)")
	if timeout {
		cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
		addProgressFlag(cmd, &f.progress)
	}
}

func (f *engineFlags) validate() error {
	switch f.drift {
	case manifest.DriftCorrect, manifest.DriftAlert, manifest.DriftIgnore:
	default:
		return fmt.Errorf("--drift %q: must be correct, alert or ignore", f.drift)
	}
	if f.workers < 1 {
		return fmt.Errorf("--workers %d: must be at least 1", f.workers)
	}
	if f.historyLimit < 0 {
		return fmt.Errorf("--%s %d: must not be negative (0 keeps every revision)", historyLimitFlag, f.historyLimit)
	}
	if f.rollback == "" {
		f.rollback = "off"
	}
	if f.rollback != "auto" && f.rollback != "off" {
		return fmt.Errorf("--rollback %q: must be auto or off", f.rollback)
	}
	if f.deadline < 0 {
		return fmt.Errorf("--progress-deadline %s: must not be negative", f.deadline)
	}
	if f.backoffBase <= 0 || f.backoffMax < f.backoffBase {
		return fmt.Errorf("--backoff-base %s, --backoff-max %s: need 0 < base <= max", f.backoffBase, f.backoffMax)
	}
	return nil
}

func newRootCmd() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot returns the root command and the globals its commands share.
func newRoot() (*cobra.Command, *globals) {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "converge",
		Short: "Converge real systems to the state declared in YAML manifests",
		Long: `converge reads desired state from YAML manifests, observes what exists through
providers, and creates, updates, replaces and deletes until the two match,
once (apply) or continuously (run).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Logs go where the command's error stream goes, so that a caller
		// that redirects it (SetErr) gets the logs too.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.stdout, g.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			g.rootGiven = cmd.Flags().Changed("root")
			if err := g.backend.resolve(&g.state, cmd.Flags().Changed("state")); err != nil {
				return err
			}
			if _, err := useColor(g.color, false, os.Getenv); err != nil {
				return err
			}
			if cmd.Flags().Lookup(historyLimitFlag) != nil {
				g.historyLimit, _ = cmd.Flags().GetInt(historyLimitFlag)
			}
			if g.cpuProfile != "" {
				f, err := os.Create(g.cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				g.stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			}
			return nil
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if g.stopProfile != nil {
				g.stopProfile()
			}
			if g.memProfile != "" {
				// What is live at the end, and (in the same file, as
				// alloc_space) what the run allocated.
				if f, err := os.Create(g.memProfile); err == nil {
					runtime.GC()
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		},
	}
	root.Version = currentVersion().String()
	root.Flags().Bool("version", false, "print the version, the commit and the Go version, and exit")
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(os.Stdout)
	root.SetErr(os.Stderr)
	pf := root.PersistentFlags()
	pf.StringArrayVarP(&g.files, "file", "f", nil, "manifest file or directory (repeatable; directories are read recursively)")
	pf.StringVar(&g.root, "root", ".", "directory the file provider manages; paths may not leave it")
	pf.StringVar(&g.state, "state", filepath.Join(".converge", "state.db"), "state database (SQLite)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.color, "color", "auto", "colour the reports: auto (on a terminal, unless NO_COLOR is set), always or never")
	pf.StringVar(&g.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (for performance reports)")
	_ = pf.MarkHidden("cpuprofile")
	pf.StringVar(&g.memProfile, "memprofile", "", "write a heap profile at the end of the run to this file (for performance reports)")
	_ = pf.MarkHidden("memprofile")
	g.backend.register(pf)
	pf.StringArrayVar(&g.pluginDirs, "plugin-dir", nil, "directory of Terraform providers in Terraform's filesystem-mirror layout, searched before the default ones (repeatable; env "+install.EnvPluginDir+")")
	pf.StringVar(&g.lockFile, "lock-file", "", "the lock of the Terraform providers' versions and hashes (default: "+lockFileName+" in the directory of the first -f)")
	pf.StringVar(&g.cloudURL, "cloud-url", envOr("CONVERGE_CLOUD_URL", defaultCloudURL), "base URL of the cloud API the cloud.* kinds manage, such as cloudsim's, when no ProviderConfig sets spec.config.baseURL (env CONVERGE_CLOUD_URL)")

	root.AddCommand(
		newValidateCmd(g),
		newPlanCmd(g),
		newApplyCmd(g),
		newAdoptCmd(g),
		newRunCmd(g),
		newStatusCmd(g),
		newGetCmd(g),
		newDescribeCmd(g),
		newEventsCmd(g),
		newGraphCmd(g),
		newDestroyCmd(g),
		newDriftCmd(g),
		newHistoryCmd(g),
		newRollbackCmd(g),
		newStateCmd(g),
		newProvidersCmd(g),
		newVersionCmd(g),
		newPushCmd(g),
		newClusterCmd(g),
	)
	addCompletions(root, g)
	return root, g
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if g.logLevel == "" {
		g.logLevel = "info"
	}
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: must be debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	w := g.stderr
	if w == nil {
		w = os.Stderr
	}
	switch g.logFormat {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: must be text or json", g.logFormat)
}

// registry returns the providers converge knows.
func (g *globals) registry() (*provider.Registry, error) {
	fp, err := file.New(g.root)
	if err != nil {
		return nil, fmt.Errorf("--root %s: %w", g.root, err)
	}
	cloudURL := g.cloudURL
	if cloudURL == "" {
		cloudURL = defaultCloudURL
	}
	if u, err := url.Parse(cloudURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--cloud-url %q: want an http or https URL such as %s", cloudURL, defaultCloudURL)
	}
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	return provider.NewRegistry(fp, httpprovider.New(), cloud.New(cloudURL),
		postgres.New("postgres", postgres.WithLogger(log.With("provider", "postgres"))),
		process.New(process.WithLogger(log.With("provider", "process"))))
}

// pluginStartTimeout bounds starting the providers a set of manifests
// declares.
const pluginStartTimeout = time.Minute

// defaultCloudURL is where the cloud provider finds the API when neither
// --cloud-url nor CONVERGE_CLOUD_URL says: cloudsim's default address.
const defaultCloudURL = "http://127.0.0.1:9000"

// envOr returns the environment variable name, or def when it is unset or
// empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadManifests builds the registry and loads the manifests of -f with it:
// what every command that reads manifests starts with.
func (g *globals) loadManifests() (*provider.Registry, *manifest.Revision, error) {
	reg, err := g.registry()
	if err != nil {
		return nil, nil, err
	}
	rv, err := g.load(reg)
	if err != nil {
		return nil, nil, err
	}
	return reg, rv, nil
}

// load validates the manifests into a revision.
func (g *globals) load(reg *provider.Registry) (*manifest.Revision, error) {
	if len(g.files) == 0 {
		return nil, errors.New("no manifests given: pass -f FILE_OR_DIR (repeatable)")
	}
	files := manifest.Read(g.files)
	ctx, cancel := context.WithTimeout(context.Background(), pluginStartTimeout)
	defer cancel()
	if err := g.startDeclared(ctx, reg, files.Declared()); err != nil {
		return nil, err
	}
	rv, err := files.Load(reg)
	if err != nil {
		return nil, err
	}
	rv.Commit = gitCommit(g.files)
	return rv, nil
}

// historyLimitFlag is the flag of the commands that converge that bounds
// the revision history.
const historyLimitFlag = "history-limit"

// metaRoot is the state's setting that holds the root it belongs to:
// --root made absolute, its symbolic links evaluated.
const metaRoot = "root"

// openStore opens the state for a command that acts on the root:
// read-only (plan, drift: no lock, and a state that does not exist yet
// reads as empty) or read-write (apply, run, destroy, rollback: locked,
// and created when it does not exist). The state must belong to --root:
// the first read-write open records the root, and a later command with
// another root is refused (see checkRoot). It names the state on stderr.
func (g *globals) openStore(ctx context.Context, readOnly bool) (store.Store, error) {
	if g.onEtcd() {
		return g.openEtcdState(ctx, !readOnly)
	}
	root, err := g.rootPath()
	if err != nil {
		return nil, err
	}
	if readOnly {
		path, exists, err := g.statePath()
		if err != nil {
			return nil, err
		}
		if !exists {
			g.announce(path, "", "none yet")
			return memory.New(), nil
		}
		db, err := sqlite.Open(ctx, g.state, sqlite.ReadOnly())
		if err != nil {
			return nil, openError(g.state, err)
		}
		if err := g.checkRoot(ctx, db, root, false); err != nil {
			db.Close()
			return nil, err
		}
		g.announce(db.Path(), root, "")
		return db, nil
	}
	db, err := sqlite.Open(ctx, g.state, sqlite.HistoryLimit(g.historyLimit))
	if err != nil {
		return nil, openError(g.state, err)
	}
	if err := g.checkRoot(ctx, db, root, true); err != nil {
		db.Close()
		return nil, err
	}
	g.announce(db.Path(), root, "")
	return wrapStore(db), nil
}

// wrapStore lets tests stand between a command and the state it opened
// read-write, to fail writes the way a crash would.
var wrapStore = func(st store.Store) store.Store { return st }

// readState opens the state read-only for a command that only reads it
// (status, events, history). The state must exist. Such commands do not
// use the root, so they check it only when --root is given.
func (g *globals) readState(ctx context.Context) (store.Store, error) {
	if g.onEtcd() {
		return g.openEtcdState(ctx, false)
	}
	if _, err := g.requireState(); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, g.state, sqlite.ReadOnly())
	if err != nil {
		return nil, openError(g.state, err)
	}
	root, err := db.GetMeta(ctx, metaRoot)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		db.Close()
		return nil, err
	}
	if g.rootGiven {
		if root, err = g.rootPath(); err != nil {
			db.Close()
			return nil, err
		}
		if err := g.checkRoot(ctx, db, root, false); err != nil {
			db.Close()
			return nil, err
		}
	}
	g.announce(db.Path(), root, "")
	return db, nil
}

func openError(state string, err error) error {
	if errors.Is(err, sqlite.ErrForeign) {
		return err // it names the file and what it is
	}
	return fmt.Errorf("open state %s: %w", state, err)
}

// statePath returns the state file --state names (absolute, symbolic
// links evaluated) and whether it exists.
func (g *globals) statePath() (string, bool, error) {
	p, err := sqlite.ResolvePath(g.state)
	if errors.Is(err, fs.ErrNotExist) { // its directory does not exist either
		abs, err := filepath.Abs(g.state)
		return abs, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("--state %s: %w", g.state, err)
	}
	switch _, err := os.Stat(p); {
	case errors.Is(err, fs.ErrNotExist):
		return p, false, nil
	case err != nil:
		return "", false, fmt.Errorf("--state %s: %w", g.state, err)
	}
	return p, true, nil
}

// requireState fails unless the state file exists, for the commands that
// have nothing to work on without one. It returns the state file.
func (g *globals) requireState() (string, error) {
	if g.onEtcd() {
		return g.storeName(), nil // etcd answers: Open says when it does not
	}
	p, exists, err := g.statePath()
	if err != nil {
		return "", err
	}
	if !exists {
		return "", fmt.Errorf("no state file at %s: nothing was applied with it (check --state, and the directory converge runs in)", p)
	}
	return p, nil
}

// rootPath returns --root made absolute, its symbolic links evaluated.
func (g *globals) rootPath() (string, error) {
	abs, err := filepath.Abs(g.root)
	if err != nil {
		return "", fmt.Errorf("--root %s: %w", g.root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("--root %s: %w", g.root, err)
	}
	return real, nil
}

// checkRoot fails unless the state st belongs to root. A state that
// records no root yet (new, or written by a converge before the root was
// recorded) takes root when record is set.
func (g *globals) checkRoot(ctx context.Context, st *sqlite.DB, root string, record bool) error {
	got, err := st.GetMeta(ctx, metaRoot)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !record {
			return nil
		}
		if err := st.SetMeta(ctx, metaRoot, root); err != nil {
			return fmt.Errorf("record the root in the state: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read the state's root: %w", err)
	case got == root:
		return nil
	}
	given := "--root " + g.root
	if !g.rootGiven {
		given = "the default --root " + g.root
	}
	return fmt.Errorf("state %s belongs to root %s, not to %s (%s): run converge with --root %s; "+
		"if the managed files moved to %s, move the state's root first: converge state set-root --state %s %s",
		st.Path(), got, root, given, got, root, st.Path(), root)
}

// precheckRoot fails when the state exists and belongs to another root,
// so that a command can refuse before it asks anything. A state it cannot
// read this way (one written by an older converge) is checked when the
// command opens it.
func (g *globals) precheckRoot(ctx context.Context) error {
	if g.onEtcd() {
		return nil // the root is each node's own: an etcd state records none
	}
	root, err := g.rootPath()
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, g.state, sqlite.ReadOnly())
	if err != nil {
		return nil
	}
	defer db.Close()
	return g.checkRoot(ctx, db, root, false)
}

// announce names the state on stderr, once per command, before anything
// else the command prints there: a header line, or a log line with
// --log-format json. note says more when there is no root to show.
func (g *globals) announce(path, root, note string) {
	if g.announced {
		return
	}
	g.announced = true
	if g.logFormat == "json" {
		attrs := []any{"path", path}
		if root != "" {
			attrs = append(attrs, "root", root)
		}
		if note != "" {
			attrs = append(attrs, "note", note)
		}
		slog.New(slog.NewJSONHandler(g.stderr, nil)).Info("state", attrs...)
		return
	}
	line := "state: " + path
	switch {
	case note != "":
		line += " (" + note + ")"
	case root != "":
		line += " (root " + root + ")"
	}
	fmt.Fprintln(g.stderr, line)
}

// newEngine wires an engine over st; more, when given, change its options
// last (a cluster node's share and fence).
func (g *globals) newEngine(ctx context.Context, reg *provider.Registry, st store.Store, f engineFlags, dryRun bool, more ...func(*engine.Options)) (*engine.Engine, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	opts := engine.Options{
		Workers:      f.workers,
		BackoffBase:  f.backoffBase,
		BackoffMax:   f.backoffMax,
		DefaultDrift: f.drift,
		DryRun:       dryRun,
		Logger:       log,
	}
	if len(f.webhooks) > 0 {
		for _, u := range f.webhooks {
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				return nil, fmt.Errorf("--alert-webhook %q: want an http or https URL", u)
			}
		}
		if g.alerts == nil {
			g.alerts = alert.New(f.webhooks, alert.Options{Logger: log})
		}
		opts.Alert = g.alerts.Notify
	}
	// The key that seals the state's secrets (see stateSealer).
	sealer, err := g.stateSealer(dryRun)
	if err != nil {
		return nil, fmt.Errorf("state key: %w", err)
	}
	if err := g.checkKeyID(ctx, st, sealer, !dryRun); err != nil {
		return nil, err
	}
	opts.Sealer = sealer
	// Other converge processes may write an etcd state at the same time.
	opts.Shared = g.onEtcd()
	for _, m := range more {
		m(&opts)
	}
	e := engine.New(reg, st, opts)
	if err := e.Load(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// pruneEvents deletes the events older than the retention (0: none).
func (g *globals) pruneEvents(ctx context.Context, st store.Store, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	n, err := st.PruneEvents(ctx, time.Now().Add(-retention))
	switch {
	case err != nil:
		log.Warn("prune old events", "err", err)
	case n > 0:
		log.Info("pruned old events", "deleted", n, "older_than", retention)
	}
}

// closeAlerts delivers the alerts still queued, for at most a few seconds.
func (g *globals) closeAlerts() {
	if g.alerts == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.alerts.Close(ctx)
	if s := g.alerts.Stats(); s.Undeliverable+s.Dropped > 0 {
		fmt.Fprintf(g.stderr, "warning: %s could not be delivered to the webhooks\n", plural(int(s.Undeliverable+s.Dropped), "alert"))
	}
}

// formatError renders an error for people: manifest problems one per line.
func formatError(err error) string {
	var list manifest.ErrorList
	if errors.As(err, &list) {
		var b strings.Builder
		fmt.Fprintf(&b, "error: the manifests have %s; nothing was applied:\n", manifest.Problems(len(list)))
		for _, e := range list {
			fmt.Fprintf(&b, "  %s\n", e.Error())
		}
		return strings.TrimRight(b.String(), "\n")
	}
	return "error: " + err.Error()
}
