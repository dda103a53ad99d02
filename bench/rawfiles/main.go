// Command rawfiles does what converge does to the files of
// bench/terraform-files.sh, and nothing else, so that its time is the
// physical bound: write N files in 10 chains, each naming the sha256 of its
// predecessor (written, then synced once, as converge syncs), or read them
// back and hash them.
//
//	rawfiles write DIR N
//	rawfiles read DIR N
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: rawfiles write|read DIR N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 10 {
		fmt.Fprintln(os.Stderr, "rawfiles: N must be a number of at least 10")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], n); err != nil {
		fmt.Fprintln(os.Stderr, "rawfiles:", err)
		os.Exit(1)
	}
}

func run(op, dir string, n int) error {
	per := n / 10
	for c := 0; c < 10; c++ {
		prev := ""
		if op == "write" {
			if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("c%d", c)), 0o755); err != nil {
				return err
			}
		}
		for i := 0; i < per; i++ {
			path := filepath.Join(dir, fmt.Sprintf("c%d", c), fmt.Sprintf("f%d.txt", i))
			var content []byte
			if op == "write" {
				content = []byte(fmt.Sprintf("chain %d file %d after %s\n", c, i, prev))
				if err := os.WriteFile(path, content, 0o644); err != nil {
					return err
				}
			} else {
				var err error
				if content, err = os.ReadFile(path); err != nil {
					return err
				}
			}
			sum := sha256.Sum256(content)
			prev = hex.EncodeToString(sum[:])
		}
	}
	if op == "write" {
		syscall.Sync()
	}
	return nil
}
