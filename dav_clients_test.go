package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/httpbox/httpbox/internal/s3test"
)

// Real WebDAV clients against the built binary: litmus, the conformance
// suite the contract names, and rclone, which people use to sync.

// davTool finds a client program: without it the test is skipped, naming
// the Debian package, or fails when env CI is set, so that CI can never
// pass by skipping.
func davTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: apt-get install %s", name, pkg)
		}
		t.Skipf("%s not found (apt-get install %s)", name, pkg)
	}
	return p
}

// litmusSuites are litmus 0.13's suites and how many tests each runs.
var litmusSuites = []struct {
	name  string
	tests int
}{{"basic", 16}, {"copymove", 13}, {"props", 30}, {"locks", 41}, {"http", 4}}

// litmusResult is what one suite reported.
type litmusResult struct {
	run, passed, failed, skipped int
	output                       string
}

var litmusSummary = regexp.MustCompile("summary for `[a-z]+': of ([0-9]+) tests run: ([0-9]+) passed, ([0-9]+) failed")

// runLitmus runs one suite against url. litmus's own wrapper stops at the
// first suite that fails, so each suite runs on its own (TESTS).
func runLitmus(t *testing.T, bin, url, suite string, creds ...string) litmusResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{url}, creds...)...)
	cmd.Dir = t.TempDir() // its debug.log goes there
	cmd.Env = append(os.Environ(), "TESTS="+suite)
	out, _ := cmd.CombinedOutput() // its exit status says less than its summary
	r := litmusResult{output: string(out)}
	m := litmusSummary.FindStringSubmatch(r.output)
	if m == nil {
		r.failed = -1 // no summary: it crashed or hung
		return r
	}
	r.run, _ = strconv.Atoi(m[1])
	r.passed, _ = strconv.Atoi(m[2])
	r.failed, _ = strconv.Atoi(m[3])
	r.skipped = strings.Count(r.output, "SKIPPED")
	return r
}

// TestLitmus: all 104 tests of litmus 0.13 pass on the directory backend,
// none skipped, with and without a token (given as Basic credentials, as
// WebDAV clients do). On S3 the figures are reported.
func TestLitmus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs litmus against the binary")
	}
	bin := davTool(t, "litmus", "litmus")
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, t.TempDir())
		for _, s := range litmusSuites {
			r := runLitmus(t, bin, p.url("/dav/"), s.name)
			if r.run != s.tests || r.passed != s.tests || r.failed != 0 || r.skipped != 0 {
				t.Errorf("litmus %s: %d run, %d passed, %d failed, %d skipped; want all %d to pass:\n%s",
					s.name, r.run, r.passed, r.failed, r.skipped, s.tests, r.output)
			}
		}
		assertHealthy(t, p)
	})
	t.Run("dir-token", func(t *testing.T) {
		t.Parallel()
		tokenFile := filepath.Join(t.TempDir(), "token")
		mustDo(t, os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600))
		p := startBinary(t, t.TempDir(), "--token-file", tokenFile, "--private")
		for _, s := range litmusSuites {
			r := runLitmus(t, bin, p.url("/dav/"), s.name, "anyone", "s3cret")
			if r.passed != s.tests || r.failed != 0 || r.skipped != 0 {
				t.Errorf("litmus %s with Basic credentials: %d passed, %d failed, %d skipped of %d:\n%s",
					s.name, r.passed, r.failed, r.skipped, s.tests, r.output)
			}
		}
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		srv := s3test.Start(t)
		p := startOnS3(t, srv, "s3://"+srv.NewBucket(t)+"/litmus")
		total, passed := 0, 0
		for _, s := range litmusSuites {
			r := runLitmus(t, bin, p.url("/dav/"), s.name)
			if r.failed < 0 {
				t.Errorf("litmus %s on S3 gave no summary:\n%s", s.name, r.output)
				continue
			}
			total += s.tests
			passed += r.passed
			t.Logf("litmus %s on S3: %d of %d passed, %d failed, %d skipped", s.name, r.passed, s.tests, r.failed, r.skipped)
			if r.passed != s.tests {
				t.Logf("%s", r.output)
			}
		}
		t.Logf("litmus on S3: %d of %d", passed, total)
		assertHealthy(t, p)
	})
}

// TestRclone: a tree with spaces and non-ASCII names, one file of
// several MiB, goes up through /dav/ with rclone and comes back down
// byte for byte, and what is on disk is exactly what was sent.
func TestRclone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rclone against the binary")
	}
	bin := davTool(t, "rclone", "rclone")
	root := t.TempDir()
	p := startBinary(t, root)
	src := t.TempDir()
	tree := map[string][]byte{
		"a.txt":                 []byte("hello\n"),
		"empty":                 nil,
		"sub dir/ünï cödé.txt":  []byte("ünï cödé\n"),
		"sub dir/deeper/x y.md": []byte("# x\n"),
		"big.bin":               pattern(7, 6<<20+12345),
		"日本語/ファイル name.txt":     []byte("こんにちは\n"),
	}
	for name, data := range tree {
		writeTree(t, src, name, data)
	}
	remote := ":webdav,url='" + p.url("/dav/") + "':up"
	rclone := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", os.DevNull, "--retries", "1", "--low-level-retries", "1"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rclone %s: %v\n%s\nserver:\n%s", strings.Join(args, " "), err, out, p.stderr)
		}
	}
	rclone("copy", src, remote)
	back := t.TempDir()
	rclone("copy", remote, back)
	for _, dir := range []string{filepath.Join(root, "up"), back} {
		got := map[string][]byte{}
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			data, err := os.ReadFile(path)
			got[filepath.ToSlash(rel)] = data
			return err
		})
		mustDo(t, err)
		if len(got) != len(tree) {
			t.Errorf("%s holds %d files, want %d", dir, len(got), len(tree))
		}
		for name, data := range tree {
			if !bytes.Equal(got[name], data) {
				t.Errorf("%s: %s differs (%d bytes, want %d)", dir, name, len(got[name]), len(data))
			}
		}
	}
}
