package process

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/convergehq/converge/provider"
)

// Defaults of the spec.
const (
	DefaultStopSignal     = "SIGTERM"
	DefaultStopTimeout    = 10 * time.Second
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = time.Second
)

// Environment variables converge sets in every process it starts: they
// name the resource, so that converge finds its process again when it lost
// the answer of a start (see Observe).
const (
	EnvResource = "CONVERGE_RESOURCE"
	EnvInstance = "CONVERGE_INSTANCE"
)

// inherited are the variables of converge's own environment a process
// gets; anything else it needs is set in spec.env (${env:NAME} passes one
// on).
var inherited = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

var signals = map[string]syscall.Signal{
	"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGHUP": syscall.SIGHUP,
	"SIGQUIT": syscall.SIGQUIT, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2,
	"SIGKILL": syscall.SIGKILL, "SIGWINCH": syscall.SIGWINCH,
}

// spec is a parsed process.Process spec.
type spec struct {
	command     string
	args        []string
	env         map[string]string // templates for provider.ExpandEnv
	dir         string
	log         string
	shell       bool
	health      *health
	stopSignal  syscall.Signal
	stopTimeout time.Duration
}

// health is a parsed spec.health.
type health struct {
	kind     string // "tcp", "http" or "exec"
	addr     string // tcp: host:port
	url      string // http
	exec     []string
	port     int // tcp and http: the port checked
	interval time.Duration
	timeout  time.Duration
}

func (h *health) String() string {
	switch h.kind {
	case "tcp":
		return "tcp " + h.addr
	case "http":
		return "http " + h.url
	}
	return "exec " + strings.Join(h.exec, " ")
}

func schema() provider.Schema {
	return provider.Schema{
		Kind:        Kind,
		Description: "A supervised process, started detached (its own session, stdin from /dev/null, output appended to a log file), restarted when it exits, and Ready once its health check passes.",
		Fields: map[string]provider.Field{
			"command": {Type: provider.String, Required: true, Validate: nonEmpty,
				Description: "The program: a path, or a name looked up in PATH when the process starts. With shell: true, a command line for /bin/sh -c."},
			"args": {Type: provider.List, Validate: validateArgs,
				Description: "Arguments, passed as they are (no shell interpretation). With shell: true they are $1, $2... of the command line."},
			"env": {Type: provider.Map, Env: true, Validate: validateEnv,
				Description: "Environment variables, added to PATH, HOME, USER, LOGNAME, SHELL, LANG, LC_*, TZ and TMPDIR from converge's environment. Values may hold ${env:NAME}, expanded when the process starts (plans show the template, never the value)."},
			"dir": {Type: provider.String, Validate: validateAbs,
				Description: "Working directory, an absolute path. Default: /."},
			"log": {Type: provider.String, Validate: validateAbs,
				Description: "Log file, an absolute path: stdout and stderr are appended there (created with mode 0640). Default: /dev/null."},
			"shell": {Type: provider.Bool, Default: false,
				Description: "Run command with /bin/sh -c. Off by default: nothing is interpreted by a shell unless asked."},
			"health": {Type: provider.Map, Validate: validateHealth,
				Description: "The check that makes the process Ready, one of tcp: PORT (or HOST:PORT; host default 127.0.0.1), http: URL (a 2xx or 3xx answer) or exec: [cmd, args...] (exit status 0), with interval (default 1s) and timeout (default 1s)."},
			"stopSignal": {Type: provider.String, Default: DefaultStopSignal, Normalize: normalizeSignal,
				Description: "The signal that asks the process group to stop: SIGTERM (default), SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH or SIGKILL."},
			"stopTimeout": {Type: provider.String, Default: DefaultStopTimeout.String(), Normalize: normalizeDuration,
				Description: "Grace period between the stop signal and SIGKILL (a Go duration, default 10s)."},
		},
		Outputs: []string{"pid", "port"},
	}
}

func nonEmpty(v any) error {
	if s, _ := v.(string); s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func validateAbs(v any) error {
	s, _ := v.(string)
	if s == "" || strings.Contains(s, "${") {
		return nil
	}
	if !filepath.IsAbs(s) {
		return fmt.Errorf("%q must be an absolute path", s)
	}
	return nil
}

func validateArgs(v any) error {
	_, err := stringList(v)
	return err
}

func validateEnv(v any) error {
	m, _ := v.(map[string]any)
	for _, k := range provider.SortedKeys(m) {
		if err := checkEnvName(k); err != nil {
			return err
		}
		if _, err := scalar(m[k]); err != nil && !provider.IsUnknown(m[k]) {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func checkEnvName(k string) error {
	switch {
	case !provider.ValidEnvName(k):
		return fmt.Errorf("%q is not a valid variable name (letters, digits and _, not starting with a digit)", k)
	case k == EnvResource || k == EnvInstance:
		return fmt.Errorf("%s is set by converge and cannot be set here", k)
	}
	return nil
}

func validateHealth(v any) error {
	m, _ := v.(map[string]any)
	if provider.IsUnknown(m) || hasRef(m) {
		return nil // checked once resolved
	}
	_, err := parseHealth(m)
	return err
}

func normalizeSignal(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	n := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if _, ok := signals[n]; !ok {
		return nil, fmt.Errorf("unknown signal %q (known: SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGKILL)", s)
	}
	return n, nil
}

func normalizeDuration(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration (write 10s, 1m30s)", s)
	}
	if d < 0 {
		return nil, fmt.Errorf("%q must not be negative", s)
	}
	return d.String(), nil
}

// hasRef reports whether v holds a reference not resolved yet.
func hasRef(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "${")
	case []any:
		for _, e := range x {
			if hasRef(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasRef(e) {
				return true
			}
		}
	}
	return false
}

// scalar returns a string, number or bool as text.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64, int, float64, json.Number, bool:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("must be a string, a number or a bool, got %T", v)
}

func stringList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list, got %T", v)
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		if provider.IsUnknown(e) {
			out = append(out, "")
			continue
		}
		s, err := scalar(e)
		if err != nil {
			return nil, fmt.Errorf("[%d] %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case json.Number:
		n, err := strconv.Atoi(string(x))
		return n, err == nil
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func parseDuration(m map[string]any, key string, def time.Duration) (time.Duration, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%s: must be a duration such as 1s, got %T", key, v)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration (write 500ms, 2s)", key, s)
	}
	return d, nil
}

// parseHealth reads spec.health; errors name the key, not the field.
func parseHealth(m map[string]any) (*health, error) {
	if m == nil {
		return nil, nil
	}
	h := &health{}
	var kinds []string
	for _, k := range provider.SortedKeys(m) {
		switch k {
		case "tcp", "http", "exec":
			kinds = append(kinds, k)
		case "interval", "timeout":
		default:
			return nil, fmt.Errorf("unknown key %q (known: tcp, http, exec, interval, timeout)", k)
		}
	}
	if len(kinds) != 1 {
		return nil, fmt.Errorf("must hold exactly one of tcp, http and exec (got %d)", len(kinds))
	}
	h.kind = kinds[0]
	v := m[h.kind]
	switch h.kind {
	case "tcp":
		if port, ok := asInt(v); ok {
			if port < 1 || port > 65535 {
				return nil, fmt.Errorf("tcp: port %d out of range 1-65535", port)
			}
			h.port, h.addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			break
		}
		s, _ := v.(string)
		host, ps, err := net.SplitHostPort(s)
		port, perr := strconv.Atoi(ps)
		if err != nil || perr != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("tcp: %v is neither a port nor HOST:PORT", v)
		}
		if host == "" {
			host = "127.0.0.1"
		}
		h.port, h.addr = port, net.JoinHostPort(host, ps)
	case "http":
		s, _ := v.(string)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("http: %v is not an http:// or https:// URL with a host", v)
		}
		h.url = s
		h.port = 80
		if u.Scheme == "https" {
			h.port = 443
		}
		if ps := u.Port(); ps != "" {
			h.port, _ = strconv.Atoi(ps)
		}
	case "exec":
		l, err := stringList(v)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		if len(l) == 0 || l[0] == "" {
			return nil, errors.New("exec: must name a command: [cmd, args...]")
		}
		h.exec = l
	}
	var err error
	if h.interval, err = parseDuration(m, "interval", DefaultHealthInterval); err != nil {
		return nil, err
	}
	if h.timeout, err = parseDuration(m, "timeout", DefaultHealthTimeout); err != nil {
		return nil, err
	}
	return h, nil
}

// parseSpec reads a resolved spec. Its errors are terminal and name the
// field: the spec cannot change by itself. Defaults are applied here too,
// for a spec the engine did not default.
func parseSpec(m map[string]any) (spec, error) {
	var s spec
	for k, v := range m {
		if provider.IsUnknown(v) {
			return s, provider.Terminalf("spec.%s holds a value not known yet", k)
		}
	}
	fail := func(field string, err error) (spec, error) {
		return spec{}, provider.Terminal(fmt.Errorf("spec.%s: %w", field, err))
	}
	s.command, _ = m["command"].(string)
	if s.command == "" {
		return fail("command", errors.New("is required"))
	}
	var err error
	if s.args, err = stringList(m["args"]); err != nil {
		return fail("args", err)
	}
	if env, ok := m["env"].(map[string]any); ok {
		s.env = make(map[string]string, len(env))
		for _, k := range provider.SortedKeys(env) {
			if err := checkEnvName(k); err != nil {
				return fail("env", err)
			}
			val, err := scalar(env[k])
			if err != nil {
				return fail("env."+k, err)
			}
			s.env[k] = val
		}
	} else if m["env"] != nil {
		return fail("env", fmt.Errorf("must be a map, got %T", m["env"]))
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"dir", &s.dir}, {"log", &s.log}} {
		v, _ := m[f.name].(string)
		if err := validateAbs(v); err != nil {
			return fail(f.name, err)
		}
		*f.dst = v
	}
	s.shell, _ = m["shell"].(bool)
	if h, ok := m["health"].(map[string]any); ok {
		if s.health, err = parseHealth(h); err != nil {
			return fail("health", err)
		}
	}
	sig, _ := m["stopSignal"].(string)
	if sig == "" {
		sig = DefaultStopSignal
	}
	n, err := normalizeSignal(sig)
	if err != nil {
		return fail("stopSignal", err)
	}
	s.stopSignal = signals[n.(string)]
	s.stopTimeout = DefaultStopTimeout
	if st, _ := m["stopTimeout"].(string); st != "" {
		d, err := time.ParseDuration(st)
		if err != nil || d < 0 {
			return fail("stopTimeout", fmt.Errorf("%q is not a duration (write 10s, 1m30s)", st))
		}
		s.stopTimeout = d
	}
	return s, nil
}

// startHash identifies what a process was started with: the fields whose
// change needs a restart (not the health check, nor how it is stopped).
// Env values are hashed as templates, before expansion.
func (s spec) startHash() string {
	b, _ := json.Marshal([]any{s.command, s.args, s.env, s.dir, s.log, s.shell})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// argv returns the program to run and its argv, with command looked up in
// the PATH the process will have.
func (s spec) argv(env []string) (string, []string, error) {
	if s.shell {
		return "/bin/sh", append([]string{"/bin/sh", "-c", s.command, "sh"}, s.args...), nil
	}
	path, err := lookPath(s.command, envValue(env, "PATH"), s.dir)
	if err != nil {
		return "", nil, err
	}
	return path, append([]string{s.command}, s.args...), nil
}

// lookPath finds command: a name without a slash in pathList, a path
// relative to dir (or /) otherwise. The error names the field.
func lookPath(command, pathList, dir string) (string, error) {
	if strings.Contains(command, "/") {
		p := command
		if !filepath.IsAbs(p) {
			if dir == "" {
				dir = "/"
			}
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", provider.Terminal(fmt.Errorf("spec.command: %q %w", command, err))
		}
		return p, nil
	}
	var firstErr error
	for _, d := range filepath.SplitList(pathList) {
		if d == "" || !filepath.IsAbs(d) {
			continue // a relative PATH entry would depend on the directory
		}
		p := filepath.Join(d, command)
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, errMissing) {
			firstErr = fmt.Errorf("spec.command: %q found as %s, which %w", command, p, err)
		}
	}
	if firstErr != nil {
		return "", provider.Terminal(firstErr)
	}
	return "", provider.Terminal(fmt.Errorf("spec.command: %q not found in PATH (%s)", command, pathList))
}

var errMissing = errors.New("does not exist")

func executable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errMissing
	case err != nil:
		return fmt.Errorf("cannot be read: %w", err)
	case fi.IsDir():
		return errors.New("is a directory")
	case fi.Mode()&0o111 == 0:
		return errors.New("is not executable")
	}
	if err := syscall.Access(p, 1); err != nil { // X_OK, for this user
		return errors.New("is not executable by this user")
	}
	return nil
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}
