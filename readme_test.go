package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeShellBlocks returns the ```sh blocks of README.md that talk to a
// server on localhost:4221 and need nothing but a shell, curl and jq: not
// the ones that install, use sudo or systemd, or start a server of their
// own.
func readmeShellBlocks(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		block := m[1]
		if !strings.Contains(block, "localhost:4221") {
			continue
		}
		skip := false
		for _, word := range []string{"sudo", "systemctl", "go run", "versitygw", "journalctl", "$(sudo"} {
			skip = skip || strings.Contains(block, word)
		}
		if !skip {
			blocks = append(blocks, block)
		}
	}
	return blocks
}

// TestReadmeExamplesWork runs every shell block of the README that talks
// to the server, as pasted (only the port changes), in one shell per
// block with -e: a command that fails, curl -f on an error status
// included, fails the test. The blocks share one server and one working
// directory, in the README's order, as a reader would run them.
func TestReadmeExamplesWork(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (Debian package %s)", tool, tool)
			}
			t.Skipf("%s is missing (Debian package %s)", tool, tool)
		}
	}
	blocks := readmeShellBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("found %d runnable shell blocks in README.md; the tour, the listing and the mount examples should be there", len(blocks))
	}
	p := startBinary(t, t.TempDir(), "--quiet")
	work := t.TempDir()
	for i, block := range blocks {
		script := strings.ReplaceAll(block, "localhost:4221", p.addr)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("README block %d failed: %v\n--- block:\n%s--- output:\n%s", i+1, err, block, out)
		}
	}
}
