package controller

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayout: data flows one way, manifest -> graph -> decide -> act ->
// store -> surfaces: no package imports one of a later layer, so the
// core never depends on how it is driven.
func TestLayout(t *testing.T) {
	const module = "github.com/convergehq/converge/"
	// Layers, lowest first; a package is in the layer of its longest
	// listed prefix.
	layers := [][]string{
		{"graph", "queue", "secret", "provider", "store"},
		{"provider/rest", "diff", "manifest", "store/memory", "store/sqlite", "store/etcd", "store/storetest", "cloudsim", "cluster"},
		{"plan", "alert", "provider/providertest"},
		{"providers/file", "providers/http", "providers/cloud", "providers/postgres", "providers/process", "providers/terraform"},
		{"engine"},
		{"controller"},
		{"api", "metrics"},
		{"cmd", "examples", "bench", "reliability"},
	}
	layerOf := func(pkg string) (int, bool) {
		best, layer := "", -1
		for i, l := range layers {
			for _, p := range l {
				if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
					best, layer = p, i
				}
			}
		}
		return layer, layer >= 0
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		from, ok := layerOf(pkg)
		if !ok {
			t.Errorf("package %s is in no layer: add it to TestLayout", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			to, _ := layerOf(dep)
			checked++
			if to > from {
				t.Errorf("%s (layer %d) imports %s (layer %d): data flows the other way", pkg, from, dep, to)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("premise: only %d imports checked", checked)
	}
}
