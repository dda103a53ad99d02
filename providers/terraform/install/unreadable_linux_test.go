package install

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFindUnreadableDirs checks that directories the user may not read are
// skipped. Permissions do not stop root, so as root the test runs itself
// again as the unprivileged user nobody.
func TestFindUnreadableDirs(t *testing.T) {
	if os.Geteuid() == 0 {
		reexecAsNobody(t, "TestFindUnreadableDirs")
		return
	}
	isolate(t)
	locked := t.TempDir()
	mkUnpacked(t, locked, random, "9.9.9", Platform)
	partly := t.TempDir()
	mkUnpacked(t, partly, random, "1.0.0", Platform)
	mkUnpacked(t, partly, random, "5.0.0", Platform)
	hidden := filepath.Join(partly, random.Host, random.Namespace, random.Type, "5.0.0")
	for _, d := range []string{locked, hidden} {
		if err := os.Chmod(d, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d, 0o755) })
	}
	if _, err := os.ReadDir(locked); err == nil {
		t.Fatalf("%s can still be read after chmod 0: the test's premise fails", locked)
	}
	pkg, err := find(t, Options{Dirs: []string{locked, partly}}, random, "")
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Version != "1.0.0" || pkg.FoundIn != partly {
		t.Errorf("found %s in %s; want 1.0.0 in %s", pkg.Version, pkg.FoundIn, partly)
	}
	_, err = find(t, Options{Dirs: []string{locked}}, random, "")
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Find in an unreadable directory only: %v; want it to say permission denied", err)
	}
}

// reexecAsNobody runs the named test in a copy of the test binary as the
// user nobody and fails if it does not pass there.
func reexecAsNobody(t *testing.T, name string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "install-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "install.test")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(out, in)
	in.Close()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "HOME="+dir, "GOCOVERDIR=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	output, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("cannot run as nobody here: %v", err)
	}
	if err != nil {
		t.Fatalf("%s as nobody: %v\n%s", name, err, output)
	}
	if !strings.Contains(string(output), "--- PASS: "+name) {
		t.Fatalf("%s as nobody did not pass:\n%s", name, output)
	}
}
