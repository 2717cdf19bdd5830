package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// A real browser renders the HTML listing: headless Chromium (the Debian
// package chromium) against the real binary on loopback.

var browserScreenshots = flag.String("browser-screenshots", "", "directory where TestBrowserListing keeps its screenshots (default: a temporary one)")

// browserTimeout bounds every run of Chromium.
const browserTimeout = 60 * time.Second

// findChromium returns the path of Chromium, or skips the test without it;
// under CI (env CI set) it fails instead, so CI cannot pass by skipping.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "headless Chromium not found: install the Debian package chromium (apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// runChromium runs headless Chromium with a fresh profile on url, with
// extra flags (--dump-dom, --screenshot=...), and returns what it wrote to
// stdout. It is killed, with every process it started, after
// browserTimeout.
func runChromium(t *testing.T, chromium, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromium, append(append(args, extra...), url)...)
	// Its own process group, so that a timeout ends its helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium %s did not finish within %v; stderr:\n%s", url, browserTimeout, stderr.String())
		}
		t.Fatalf("chromium %s: %v; stderr:\n%s", url, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestBrowserListing: Chromium renders the listing of hostile names: every
// link is the entry's absolute, percent-encoded path, every name shows as
// text, no element of theirs exists and nothing runs; a directory's page
// works without its trailing slash; the links lead to the entries.
func TestBrowserListing(t *testing.T) {
	chromium := findChromium(t)
	root := t.TempDir()
	// Script that would run, were any name markup: it renames the page.
	const pwned = `document.title='pwned'`
	files := []struct{ name, display string }{
		{name: `<img src=x onerror="` + pwned + `">`},
		{name: `<svg onload=` + pwned + `>`},
		{name: `"double" 'single'`},
		{name: `a&b&amp;c`},
		{name: `100%`},
		{name: `%2e`},
		{name: `%2e%2e%2f`},
		{name: "new\nline", display: "new\u240aline"},
		{name: "tab\there", display: "tab\u2409here"},
		{name: "bad\xffbyte", display: "bad\ufffdbyte"},
		{name: `with  two spaces`},
		{name: `#hash`},
		{name: `question?mark=1&x`},
		{name: `ünïcödé 日本語`},
	}
	dirs := []string{"<script>" + pwned + "<", "sub dir"} // "<" + "/script>" is a path
	var ordered []listingHostile
	for _, f := range files {
		mustDo(t, os.WriteFile(filepath.Join(root, f.name), []byte(f.name), 0o644))
		ordered = append(ordered, listingHostile{name: f.name, display: cmpOr(f.display, f.name)})
	}
	for _, d := range dirs {
		mustDo(t, os.Mkdir(filepath.Join(root, d), 0o755))
		ordered = append(ordered, listingHostile{name: d, display: d})
	}
	mustDo(t, os.WriteFile(filepath.Join(root, dirs[0], "script>"), []byte("x"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(root, dirs[1], "in.txt"), []byte("inside"), 0o644))
	isDir := func(name string) bool { return name == dirs[0] || name == dirs[1] }
	sortListing(ordered, isDir)

	p := startBinary(t, root, "--quiet")
	dom := runChromium(t, chromium, p.url("/files/"), "--dump-dom")
	if !bytes.Contains(dom, []byte("<title>Index of /files/</title>")) {
		t.Errorf("the rendered page's title is not the listing's (did a name's script run?):\n%s", dom)
	}
	for _, element := range []string{"<script", "<img", "<svg"} {
		if bytes.Contains(dom, []byte(element)) {
			t.Errorf("the rendered page has a %s> element: a name became markup:\n%s", element, dom)
		}
	}
	links := listingHTMLLinks(dom)
	if len(links) != len(ordered) {
		t.Fatalf("the rendered page has %d links, want %d:\n%s", len(links), len(ordered), dom)
	}
	for i, l := range links {
		h := ordered[i]
		wantHref, wantText := h.link(isDir)
		if l.href != wantHref || l.text != wantText {
			t.Errorf("link %d: rendered as %q %q, want %q %q", i, l.href, l.text, wantHref, wantText)
		}
		// Following the link reaches the entry.
		r := getRaw(t, p, l.href)
		switch {
		case !utf8.ValidString(h.name):
			// Listed, but resolvePath refuses a path that is not UTF-8.
		case r.status != 200:
			t.Errorf("GET %s (%q): got %d %q, want 200", l.href, h.name, r.status, r.body)
		case !isDir(h.name) && string(r.body) != h.name:
			t.Errorf("GET %s: got %q, want the file's bytes", l.href, r.body)
		}
	}

	// A directory's page without its trailing slash: the links are
	// absolute, so they still lead to the right places.
	dom = runChromium(t, chromium, p.url("/files/sub%20dir"), "--dump-dom")
	want := []htmlLink{{"/files/", "../"}, {"/files/sub%20dir/in.txt", "in.txt"}}
	if links := listingHTMLLinks(dom); !equalLinks(links, want) {
		t.Errorf("/files/sub%%20dir rendered links %q, want %q:\n%s", links, want, dom)
	}
	if !strings.Contains(string(dom), `<h1>Index of <a href="/files/">/files/</a>sub dir/</h1>`) {
		t.Errorf("/files/sub%%20dir: the heading does not link the root:\n%s", dom)
	}

	dir := *browserScreenshots
	if dir == "" {
		dir = t.TempDir()
	}
	for _, shot := range []struct{ file, flag string }{{"listing.png", ""}, {"listing-dark.png", "--force-dark-mode"}} {
		path, err := filepath.Abs(filepath.Join(dir, shot.file))
		mustDo(t, err)
		flags := []string{"--screenshot=" + path, "--window-size=1000,700", "--hide-scrollbars"}
		if shot.flag != "" {
			flags = append(flags, shot.flag)
		}
		runChromium(t, chromium, p.url("/files/"), flags...)
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("no screenshot at %s: %v", path, err)
			continue
		}
		t.Logf("screenshot: %s", path)
	}
}
