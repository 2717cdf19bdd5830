package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the built binary: flags, exit codes, the start-up line,
// tokens, read-only mode and the access log, as CONTRACT.md states them.

var update = flag.Bool("update", false, "rewrite testdata/help.golden from the binary's --help output")

const wantVersionLine = "httpbox " + testVersion + " (abc1234, 2026-01-02)"

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runBinary(t, nil, "--version")
	if code != 0 {
		t.Errorf("exit code: got %d, want 0", code)
	}
	// The stream is checked by TestHelpAndVersionOnStdout.
	if got := stdout + stderr; got != wantVersionLine+"\n" {
		t.Errorf("output: got %q, want %q", got, wantVersionLine+"\n")
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	golden := filepath.Join("testdata", "help.golden")
	for _, arg := range []string{"-h", "--help"} {
		code, stdout, stderr := runBinary(t, nil, arg)
		if code != 0 {
			t.Errorf("%s: exit code: got %d, want 0", arg, code)
		}
		got := stdout + stderr // the stream is checked by TestHelpAndVersionOnStdout
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestHelp -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: output differs from %s (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", arg, golden, got, want)
		}
		for _, flagName := range []string{"--directory", "--host", "--port", "--max-body-size", "--read-only",
			"--token-file", "--read-timeout", "--write-timeout", "--idle-timeout", "--shutdown-timeout",
			"--quiet", "--version", "--help"} {
			if !strings.Contains(got, flagName) {
				t.Errorf("%s: usage does not mention %s", arg, flagName)
			}
		}
	}
}

// TestHelpAndVersionOnStdout: asked-for output (--help, --version) is the
// program's result, so it goes to stdout, where `httpbox --help | less`
// and `v=$(httpbox --version)` look for it (as curl and GNU tools do).
func TestHelpAndVersionOnStdout(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "--version"} {
		_, stdout, stderr := runBinary(t, nil, arg)
		if stdout == "" || stderr != "" {
			t.Errorf("%s: got stdout %q and stderr %q, want the output on stdout and nothing on stderr", arg, stdout, stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	writeTree(t, dir, "regular", []byte("x"))
	emptyToken := filepath.Join(dir, "empty-token")
	writeTree(t, dir, "empty-token", nil)
	blankToken := filepath.Join(dir, "blank-token")
	writeTree(t, dir, "blank-token", []byte(" \n\t\n"))
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string // after --host 127.0.0.1 --port 0 --directory root
		env    []string
		wantIn string // the one-line reason names what is wrong
	}{
		{name: "unknown flag", args: []string{"--bogus"}, wantIn: "bogus"},
		{name: "unknown shorthand", args: []string{"-z"}, wantIn: "z"},
		{name: "port negative", args: []string{"--port", "-1"}, wantIn: "port"},
		{name: "port too large", args: []string{"--port", "70000"}, wantIn: "port"},
		{name: "port not a number", args: []string{"--port", "abc"}, wantIn: "port"},
		{name: "body size unknown unit", args: []string{"--max-body-size=10XB"}, wantIn: "max-body-size"},
		{name: "body size negative", args: []string{"--max-body-size=-5"}, wantIn: "max-body-size"},
		{name: "body size empty", args: []string{"--max-body-size="}, wantIn: "max-body-size"},
		{name: "body size fraction", args: []string{"--max-body-size=1.5GiB"}, wantIn: "max-body-size"},
		{name: "body size zero", args: []string{"--max-body-size=0"}, wantIn: "max-body-size"},
		{name: "body size overflow", args: []string{"--max-body-size=9999999999GiB"}, wantIn: "max-body-size"},
		{name: "body size unit case", args: []string{"--max-body-size=1kib"}, wantIn: "max-body-size"},
		{name: "body size with sign", args: []string{"--max-body-size=+5"}, wantIn: "max-body-size"},
		{name: "body size with space", args: []string{"--max-body-size=1 KiB"}, wantIn: "max-body-size"},
		{name: "body size unit B", args: []string{"--max-body-size=100B"}, wantIn: "max-body-size"},
		{name: "directory missing", args: []string{"--directory", filepath.Join(dir, "nope")}, wantIn: "directory"},
		{name: "directory is a file", args: []string{"--directory", regular}, wantIn: "directory"},
		{name: "token file missing", args: []string{"--token-file", filepath.Join(dir, "nope")}, wantIn: "token"},
		{name: "token file unreadable", args: []string{"--token-file", dir}, wantIn: "token"},
		{name: "token file empty", args: []string{"--token-file", emptyToken}, wantIn: "token"},
		{name: "token file whitespace", args: []string{"--token-file", blankToken}, wantIn: "token"},
		{name: "token env whitespace", env: []string{"HTTPBOX_TOKEN= \t "}, wantIn: "HTTPBOX_TOKEN"},
		{name: "token env empty", env: []string{"HTTPBOX_TOKEN="}, wantIn: "HTTPBOX_TOKEN"},
		{name: "token file empty name", args: []string{"--token-file="}, wantIn: "token"},
		{name: "read timeout zero", args: []string{"--read-timeout", "0"}, wantIn: "read-timeout"},
		{name: "write timeout negative", args: []string{"--write-timeout", "-1s"}, wantIn: "write-timeout"},
		{name: "idle timeout zero", args: []string{"--idle-timeout", "0s"}, wantIn: "idle-timeout"},
		{name: "shutdown timeout negative", args: []string{"--shutdown-timeout", "-5m"}, wantIn: "shutdown-timeout"},
		{name: "duration without unit", args: []string{"--read-timeout", "10"}, wantIn: "read-timeout"},
		{name: "positional argument", args: []string{"extra"}, wantIn: "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Host and port make a wrongly accepted value start a server that
			// runBinary reports after 10s, rather than fail on a busy port.
			args := append([]string{"--host", "127.0.0.1", "--port", "0", "--directory", root}, tt.args...)
			code, stdout, stderr := runBinary(t, tt.env, args...)
			if code != 2 {
				t.Errorf("exit code: got %d, want 2 (stderr %q)", code, stderr)
			}
			reason := strings.TrimSuffix(stderr, "\n")
			if reason == "" || strings.Contains(reason, "\n") {
				t.Errorf("stderr: got %q, want a one-line reason", stderr)
			}
			if !strings.Contains(reason, tt.wantIn) {
				t.Errorf("stderr: got %q, want a reason that mentions %q", reason, tt.wantIn)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
		})
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	code, _, stderr := runBinary(t, nil, "--host", "127.0.0.1", "--port", port, "--directory", t.TempDir())
	if code != 1 {
		t.Errorf("exit code: got %d, want 1 (stderr %q)", code, stderr)
	}
	if !strings.Contains(stderr, port) || !strings.Contains(stderr, "in use") {
		t.Errorf("stderr: got %q, want a reason naming port %s as in use", stderr, port)
	}
}

func TestMaxBodySizeForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size  string
		limit int
		send  bool // send real bodies; else check the Content-Length verdict only
	}{
		{"100", 100, true},
		{"10KiB", 10 << 10, true},
		{"1MB", 1000 * 1000, true},
		{"2GiB", 2 << 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.size, func(t *testing.T) {
			t.Parallel()
			p := startBinary(t, t.TempDir(), "-q", "--max-body-size", tt.size)
			if tt.send {
				if r := request(t, p, "POST", "/files/at-limit", nil, strings.Repeat("a", tt.limit)); r.status != 201 {
					t.Errorf("POST of %d bytes: got %d, want 201", tt.limit, r.status)
				}
				if r := request(t, p, "POST", "/files/over-limit", nil, strings.Repeat("a", tt.limit+1)); r.status != 413 {
					t.Errorf("POST of %d bytes: got %d, want 413", tt.limit+1, r.status)
				}
				if _, err := os.Stat(filepath.Join(p.root, "over-limit")); err == nil {
					t.Errorf("the refused body was stored")
				}
				return
			}
			// Too big to send: Expect: 100-continue asks for the verdict on the
			// headers alone.
			for _, c := range []struct {
				length     int
				wantStatus string
			}{{tt.limit, "100"}, {tt.limit + 1, "413"}} {
				conn := dialRaw(t, p)
				conn.send(fmt.Sprintf("PUT /files/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", c.length))
				_ = conn.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, err := conn.br.ReadString('\n')
				if err != nil {
					t.Fatalf("Content-Length %d: reading status line: %v", c.length, err)
				}
				if f := strings.Fields(line); len(f) < 2 || f[1] != c.wantStatus {
					t.Errorf("Content-Length %d: got %q, want status %s", c.length, strings.TrimSpace(line), c.wantStatus)
				}
				conn.c.Close()
			}
		})
	}
}

func TestStartupLine(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	if err := os.Mkdir(filepath.Join(parent, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTree(t, parent, "rel/f", []byte("in rel"))
	p := startBinaryCmd(t, "rel", func(cmd *exec.Cmd) { cmd.Dir = parent })
	line, _, _ := strings.Cut(p.stderr.String(), "\n")

	if !strings.HasPrefix(line, "httpbox "+testVersion+" ") {
		t.Errorf("start-up line %q: want it to start with %q", line, "httpbox "+testVersion+" ")
	}
	host, port, err := net.SplitHostPort(p.addr)
	if err != nil || host != "127.0.0.1" || port == "0" || port == "" {
		t.Errorf("start-up line %q: got address %q, want 127.0.0.1 with the real port (not 0)", line, p.addr)
	}
	m := startLine.FindStringSubmatch(line)
	realParent, err := filepath.EvalSymlinks(parent)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[2]; got != filepath.Join(parent, "rel") && got != filepath.Join(realParent, "rel") {
		t.Errorf("start-up line %q: got root %q, want %q", line, got, filepath.Join(parent, "rel"))
	}
	if r := request(t, p, "GET", "/files/f", nil, ""); r.status != 200 || string(r.body) != "in rel" {
		t.Errorf("GET /files/f: got %d %q, want 200 %q", r.status, r.body, "in rel")
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	tokenDir := t.TempDir()
	tokenFile := filepath.Join(tokenDir, "token")
	writeTree(t, tokenDir, "token", []byte("secret\n")) // as `echo secret > token` leaves it
	tests := []struct {
		name string
		args []string
		env  []string
		good string   // the token that opens writes
		bad  []string // Authorization values that must not
	}{
		{name: "file", args: []string{"--token-file", tokenFile}, good: "secret",
			bad: []string{"", "Bearer wrong", "Bearer secret2", "Bearer secre", "Basic secret", "Bearer", "secret"}},
		{name: "env", env: []string{"HTTPBOX_TOKEN=envsecret"}, good: "envsecret",
			bad: []string{"", "Bearer wrong", "Bearer secret"}},
		{name: "env trimmed", env: []string{"HTTPBOX_TOKEN= spaced \n"}, good: "spaced",
			bad: []string{"", "Bearer spacedx"}},
		{name: "file wins over env", args: []string{"--token-file", tokenFile}, env: []string{"HTTPBOX_TOKEN=envsecret"}, good: "secret",
			bad: []string{"", "Bearer envsecret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeTree(t, root, "pre", []byte("pre"))
			p := startBinaryCmd(t, root, func(cmd *exec.Cmd) { cmd.Env = append(cmd.Env, tt.env...) }, append([]string{"-q"}, tt.args...)...)

			for _, auth := range tt.bad {
				var hdr []string
				if auth != "" {
					hdr = []string{"Authorization: " + auth}
				}
				for _, w := range []struct{ method, path, body string }{
					{"POST", "/files/new", "new"}, {"PUT", "/files/pre", "changed"}, {"DELETE", "/files/pre", ""},
				} {
					r := request(t, p, w.method, w.path, hdr, w.body)
					if r.status != 401 {
						t.Errorf("%s %s with Authorization %q: got %d, want 401", w.method, w.path, auth, r.status)
					}
					if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
						t.Errorf("%s %s with Authorization %q: got WWW-Authenticate %q, want %q", w.method, w.path, auth, got, "Bearer")
					}
				}
			}
			if b, err := os.ReadFile(filepath.Join(root, "pre")); err != nil || string(b) != "pre" {
				t.Errorf("after refused writes: got pre = %q (%v), want %q", b, err, "pre")
			}
			if _, err := os.Stat(filepath.Join(root, "new")); err == nil {
				t.Errorf("after refused writes: new exists, want it absent")
			}
			if r := request(t, p, "GET", "/files/pre", nil, ""); r.status != 200 || string(r.body) != "pre" {
				t.Errorf("GET without a token: got %d %q, want 200 %q", r.status, r.body, "pre")
			}

			hdr := []string{"Authorization: Bearer " + tt.good}
			for _, w := range []struct {
				method, path, body string
				want               int
			}{
				{"POST", "/files/new", "new", 201},
				{"PUT", "/files/new", "newer", 204},
				{"PUT", "/files/pre", "changed", 204},
				{"DELETE", "/files/new", "", 204},
			} {
				if r := request(t, p, w.method, w.path, hdr, w.body); r.status != w.want {
					t.Errorf("%s %s with the right token: got %d, want %d", w.method, w.path, r.status, w.want)
				}
			}
			if b, err := os.ReadFile(filepath.Join(root, "pre")); err != nil || string(b) != "changed" {
				t.Errorf("after PUT with the right token: got pre = %q (%v), want %q", b, err, "changed")
			}
			// Auth schemes are case-insensitive (RFC 9110 section 11.1).
			if r := request(t, p, "DELETE", "/files/pre", []string{"Authorization: bearer " + tt.good}, ""); r.status != 204 {
				t.Errorf("DELETE with scheme %q: got %d, want 204", "bearer", r.status)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, "pre", []byte("pre"))
	p := startBinary(t, root, "-q", "--read-only")
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/files/new", "new"},
		{"PUT", "/files/new", "new"},
		{"PUT", "/files/pre", "changed"},
		{"POST", "/files/pre", "changed"},
		{"DELETE", "/files/pre", ""},
	} {
		if r := request(t, p, w.method, w.path, nil, w.body); r.status != 403 {
			t.Errorf("%s %s: got %d, want 403", w.method, w.path, r.status)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "pre")); err != nil || string(b) != "pre" {
		t.Errorf("after refused writes: got pre = %q (%v), want %q", b, err, "pre")
	}
	if _, err := os.Stat(filepath.Join(root, "new")); err == nil {
		t.Errorf("after refused writes: new exists, want it absent")
	}
	if r := request(t, p, "GET", "/files/pre", nil, ""); r.status != 200 || string(r.body) != "pre" {
		t.Errorf("GET /files/pre: got %d %q, want 200 %q", r.status, r.body, "pre")
	}
	if r := request(t, p, "HEAD", "/files/pre", nil, ""); r.status != 200 || r.header.Get("Content-Length") != "3" {
		t.Errorf("HEAD /files/pre: got %d with Content-Length %q, want 200 with 3", r.status, r.header.Get("Content-Length"))
	}
}

func TestRefusalOrder(t *testing.T) {
	t.Parallel()
	tokenDir := t.TempDir()
	tokenFile := filepath.Join(tokenDir, "token")
	writeTree(t, tokenDir, "token", []byte("secret\n"))
	// Both limit bodies to 10 bytes; every request below breaks several rules.
	readOnly := startBinary(t, t.TempDir(), "-q", "--token-file", tokenFile, "--read-only", "--max-body-size", "10")
	writable := startBinary(t, t.TempDir(), "-q", "--token-file", tokenFile, "--max-body-size", "10")
	if err := os.Mkdir(filepath.Join(writable.root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	const (
		badPath = "/files/%2e%2e/x" // decodes to ../x
		tooBig  = "0123456789A"     // 11 bytes
		auth    = "Authorization: Bearer secret"
	)
	tests := []struct {
		name   string
		srv    *serverProc
		method string
		path   string
		auth   bool
		body   string
		want   int
	}{
		{"no token beats read-only, path and size", readOnly, "POST", badPath, false, tooBig, 401},
		{"no token beats read-only (DELETE)", readOnly, "DELETE", badPath, false, "", 401},
		{"read-only beats path and size", readOnly, "PUT", badPath, true, tooBig, 403},
		{"read-only beats path (DELETE)", readOnly, "DELETE", badPath, true, "", 403},
		{"no token beats path and size", writable, "PUT", badPath, false, tooBig, 401},
		{"bad path beats size", writable, "POST", badPath, true, tooBig, 400},
		{"bad path (DELETE)", writable, "DELETE", badPath, true, "", 400},
		{"size beats the disk", writable, "PUT", "/files/dir", true, tooBig, 413},
		{"then the disk", writable, "PUT", "/files/dir", true, "small", 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if tt.auth {
				hdr = []string{auth}
			}
			if r := request(t, tt.srv, tt.method, tt.path, hdr, tt.body); r.status != tt.want {
				t.Errorf("%s %s (token %v, %d-byte body): got %d, want %d", tt.method, tt.path, tt.auth, len(tt.body), r.status, tt.want)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir(), "--max-body-size", "10")
	reqs := []struct {
		method, path, body string
		headers            []string
		status, bytes      string // as logged
	}{
		{"GET", "/echo/hello", "", nil, "200", "5"},
		{"GET", "/nope", "", nil, "404", strconv.Itoa(len("not found\n"))},
		{"POST", "/files/logged", "abc", nil, "201", "0"},
		{"GET", "/files/logged", "", nil, "200", "3"},
		{"HEAD", "/healthz", "", nil, "200", "0"},
		{"GET", "/echo/%zz", "", nil, "400", strconv.Itoa(len("malformed percent-escape in path\n"))},
		// Refused on the headers, by the handler and before it.
		{"POST", "/files/too-big", "0123456789A", nil, "413", strconv.Itoa(len("request body too large\n"))},
		{"PUT", "/files/too-big-expect", "0123456789A", []string{"Expect: 100-continue"}, "413", strconv.Itoa(len("request body too large\n"))},
	}
	for _, r := range reqs {
		if got := request(t, p, r.method, r.path, r.headers, r.body); strconv.Itoa(got.status) != r.status {
			t.Errorf("%s %s: got %d, want %s", r.method, r.path, got.status, r.status)
		}
	}
	var lines []string
	pollUntil(2*time.Second, func() bool {
		lines = logLinesAfterStart(p)
		return len(lines) >= len(reqs)
	})
	for _, r := range reqs {
		n := 0
		for _, line := range lines {
			if hasFieldsInOrder(line, r.method, r.path) {
				n++
				if !hasFieldsInOrder(line, r.method, r.path, r.status, r.bytes) {
					t.Errorf("log line %q: want method %s, path %s, status %s, bytes %s", line, r.method, r.path, r.status, r.bytes)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s %s: got %d log lines, want 1; stderr:\n%s", r.method, r.path, n, p.stderr)
		}
	}
	if len(lines) != len(reqs) {
		t.Errorf("got %d lines after the start-up line, want %d; stderr:\n%s", len(lines), len(reqs), p.stderr)
	}
}

// TestAccessLogMalformedRequest: a request refused before its head was
// parsed is logged, with unknown method and target shown as "-".
func TestAccessLogMalformedRequest(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir())
	c := dialRaw(t, p)
	c.send("GET /x HTTP/1.1\r\n\r\n")
	if r := c.mustRead("GET"); r.status != 400 {
		t.Errorf("GET /x without Host: got %d, want 400", r.status)
	}
	var lines []string
	pollUntil(2*time.Second, func() bool {
		lines = logLinesAfterStart(p)
		return len(lines) > 0
	})
	// fasthttp resets a head it could not parse, so the line says the
	// method and target are unknown rather than inventing "GET /".
	n := 0
	for _, line := range lines {
		if hasFieldsInOrder(line, "-", "-", "400") {
			n++
		}
		if hasFieldsInOrder(line, "GET", "/", "400") {
			t.Errorf("access line claims a target the server never parsed: %q", line)
		}
	}
	if n != 1 {
		t.Errorf("got %d access lines with - - 400, want 1; stderr:\n%s", n, p.stderr)
	}
}

func TestShorthandFlags(t *testing.T) {
	t.Parallel()
	// -d and -p come after startBinary's long forms, so they win.
	root := t.TempDir()
	writeTree(t, root, "f", []byte("short"))
	p := startBinary(t, t.TempDir(), "-d", root, "-p", "0", "-q")
	if m := startLine.FindStringSubmatch(p.stderr.String()); m == nil || m[2] != root {
		t.Errorf("start-up line %q: want root %s", p.stderr, root)
	}
	if r := request(t, p, "GET", "/files/f", nil, ""); r.status != 200 || string(r.body) != "short" {
		t.Errorf("GET /files/f: got %d %q, want 200 %q", r.status, r.body, "short")
	}
}

// TestQuietNoAccessLog stops each server with SIGTERM, which flushes its
// log, and reads its stderr to the end: without -q the same requests are
// logged, so silence with -q is not a log that has not arrived yet.
func TestQuietNoAccessLog(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flag      string
		wantLines int
	}{{"", 3}, {"-q", 0}, {"--quiet", 0}} {
		name := tt.flag
		if name == "" {
			name = "without -q"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var args []string
			if tt.flag != "" {
				args = append(args, tt.flag)
			}
			p := startBinary(t, t.TempDir(), args...)
			request(t, p, "GET", "/echo/hello", nil, "")
			request(t, p, "GET", "/nope", nil, "")
			request(t, p, "POST", "/files/x", nil, "abc")
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 5*time.Second); code != 0 {
				t.Errorf("exit code: got %d, want 0", code)
			}
			// The server's own line about the signal stays with -q; the
			// requests' lines do not.
			lines := slices.DeleteFunc(logLinesAfterStart(p), func(l string) bool {
				return strings.HasSuffix(l, "terminated received: shutting down")
			})
			if len(lines) != tt.wantLines {
				t.Errorf("got %d access-log lines after the start-up line %q, want %d", len(lines), lines, tt.wantLines)
			}
		})
	}
}

// TestReadmeShowsHelp keeps the README's copy of --help honest: it must
// contain testdata/help.golden, which TestHelp compares with the binary.
func TestReadmeShowsHelp(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile(filepath.Join("testdata", "help.golden"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(golden)) {
		t.Errorf("README.md does not contain the current --help output (testdata/help.golden); paste it into the Flags section")
	}
}

// TestUnknownFlagPointsToHelp: a mistake on the command line says where
// to look.
func TestUnknownFlagPointsToHelp(t *testing.T) {
	code, _, stderr := runBinary(t, nil, "--colour")
	if code != 2 || !strings.HasSuffix(strings.TrimSpace(stderr), "(see httpbox --help)") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--colour: exit %d, stderr %q; want 2 and one line ending with (see httpbox --help)", code, stderr)
	}
}

// TestHelpShowsPlainSwitches: boolean flags are switches in --help, not
// --read-only[=true|false].
func TestHelpShowsPlainSwitches(t *testing.T) {
	_, stdout, _ := runBinary(t, nil, "--help")
	if strings.Contains(stdout, "[=true|false]") || !strings.Contains(stdout, "      --read-only   ") {
		t.Errorf("--help:\n%s", stdout)
	}
}

// TestSIGTERMWithNothingInFlight: an idle server exits at once, and its
// log says why in one line.
func TestSIGTERMWithNothingInFlight(t *testing.T) {
	p := startBinary(t, t.TempDir())
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if n := strings.Count(p.stderr.String(), "terminated received: shutting down"); n != 1 {
		t.Errorf("%d shutdown lines, want 1:\n%s", n, p.stderr)
	}
}
