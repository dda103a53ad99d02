package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// localFiles is how many local_file resources BenchmarkTerraformLocal
// manages.
const localFiles = 1000

// BenchmarkTerraformLocal converges 1,000 independent local_file
// resources of the released hashicorp/local provider, with converge (the
// kind local.file) and with `terraform apply`, side by side: the apply
// from empty, then the run that finds nothing to change (converge apply;
// terraform apply, which plans first). It needs `terraform` on the PATH
// and CONVERGE_TF_PLUGIN_DIR naming a plugin directory (Terraform's
// filesystem-mirror layout) that holds registry.terraform.io/hashicorp/local;
// it skips otherwise.
//
//	CONVERGE_TF_PLUGIN_DIR=DIR go test -run '^$' -bench TerraformLocal -benchtime 1x ./bench/
func BenchmarkTerraformLocal(b *testing.B) {
	plugins := os.Getenv("CONVERGE_TF_PLUGIN_DIR")
	if plugins == "" {
		b.Skip("CONVERGE_TF_PLUGIN_DIR is not set: it names a plugin directory holding registry.terraform.io/hashicorp/local")
	}
	if _, err := os.Stat(filepath.Join(plugins, "registry.terraform.io", "hashicorp", "local")); err != nil {
		b.Skipf("CONVERGE_TF_PLUGIN_DIR=%s holds no registry.terraform.io/hashicorp/local: %v", plugins, err)
	}
	terraform, err := exec.LookPath("terraform")
	if err != nil {
		b.Skip("terraform is not on the PATH")
	}
	b.Run("converge", func(b *testing.B) {
		for b.Loop() {
			work := b.TempDir()
			out := filepath.Join(work, "out")
			var m strings.Builder
			m.WriteString("kind: ProviderConfig\nmetadata: {name: local}\nspec: {source: hashicorp/local}\n")
			for i := range localFiles {
				fmt.Fprintf(&m, "---\nkind: local.file\nmetadata: {name: f%d}\nspec: {filename: %q, content: \"file %d\\n\"}\n", i, filepath.Join(out, fmt.Sprintf("f%d.txt", i)), i)
			}
			if err := os.WriteFile(filepath.Join(work, "m.yaml"), []byte(m.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			args := []string{"-f", filepath.Join(work, "m.yaml"), "--root", work, "--state", filepath.Join(work, "state.db"), "--plugin-dir", plugins, "--log-level", "warn"}
			run := func(what string, sub ...string) {
				b.Helper()
				start := time.Now()
				if out, err := exec.Command(binary, append(sub, args...)...).CombinedOutput(); err != nil {
					b.Fatalf("converge %s: %v\n%s", strings.Join(sub, " "), err, out)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s-"+what)
			}
			run("apply", "apply")
			countFiles(b, out)
			run("noop", "apply")
		}
	})
	b.Run("terraform", func(b *testing.B) {
		for b.Loop() {
			work := b.TempDir()
			cfg := filepath.Join(work, "cli.tfrc")
			rc := fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path    = %q\n    include = [\"registry.terraform.io/hashicorp/local\"]\n  }\n  direct { exclude = [\"registry.terraform.io/hashicorp/local\"] }\n}\n", plugins)
			tf := fmt.Sprintf("terraform {\n  required_providers {\n    local = { source = \"hashicorp/local\" }\n  }\n}\n\nresource \"local_file\" \"f\" {\n  count    = %d\n  filename = \"${path.module}/out/f${count.index}.txt\"\n  content  = \"file ${count.index}\\n\"\n}\n", localFiles)
			if err := os.WriteFile(cfg, []byte(rc), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(tf), 0o644); err != nil {
				b.Fatal(err)
			}
			run := func(what string, args ...string) {
				b.Helper()
				cmd := exec.Command(terraform, append(args, "-input=false", "-no-color")...)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
				start := time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				if what != "" {
					b.ReportMetric(time.Since(start).Seconds(), "s-"+what)
				}
			}
			run("", "init")
			run("apply", "apply", "-auto-approve")
			countFiles(b, filepath.Join(work, "out"))
			run("noop", "apply", "-auto-approve")
		}
	})
}

// countFiles fails unless dir holds localFiles files.
func countFiles(b *testing.B, dir string) {
	b.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	if len(ents) != localFiles {
		b.Fatalf("%s holds %d files; want %d", dir, len(ents), localFiles)
	}
}
