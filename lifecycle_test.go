package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/httpbox/httpbox/internal/store"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the built binary through its life: signals and graceful
// shutdown, systemd readiness and socket activation, and a crash in the
// middle of an upload.

func TestShutdownFinishesUpload(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := startBinary(t, t.TempDir(), "-q")
			body := pattern(1, 256<<10)
			half := len(body) / 2
			c := startUpload(t, p, "/files/up", len(body), body[:half])
			waitTempFiles(t, p.root, 1)

			p.signal(t, sig)
			if !pollUntil(2*time.Second, func() bool { return dialRefused(p.addr) }) {
				t.Errorf("a new connection after %v: got accepted, want refused", sig)
			}
			if !p.isRunning() {
				t.Fatalf("the process exited before the in-flight upload finished; stderr:\n%s", p.stderr)
			}
			if err := c.trySend(string(body[half:])); err != nil {
				t.Fatalf("sending the rest of the body after %v: %v", sig, err)
			}
			if r := c.mustRead("PUT"); r.status != 201 {
				t.Errorf("in-flight PUT: got %d, want 201", r.status)
			}
			if code := p.wait(t, 5*time.Second); code != 0 {
				t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, p.stderr)
			}
			got, err := os.ReadFile(filepath.Join(p.root, "up"))
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("stored file: got %d bytes (%v), want the %d bytes sent", len(got), err, len(body))
			}
			if tmp := tempFiles(t, p.root); len(tmp) != 0 {
				t.Errorf("temporary files left: %q, want none", tmp)
			}
		})
	}
}

func TestShutdownFinishesDownload(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// Larger than loopback's socket buffers, so the server is still sending
	// when the signal comes.
	body := pattern(2, 32<<20)
	writeTree(t, root, "big", body)
	p := startBinary(t, root, "-q")
	c := dialRaw(t, p)
	c.send("GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, len(body))
	if _, err := io.ReadFull(resp.Body, got[:64<<10]); err != nil {
		t.Fatal(err)
	}

	p.signal(t, syscall.SIGTERM)
	if !pollUntil(2*time.Second, func() bool { return dialRefused(p.addr) }) {
		t.Errorf("a new connection after SIGTERM: got accepted, want refused")
	}
	if _, err := io.ReadFull(resp.Body, got[64<<10:]); err != nil {
		t.Errorf("reading the rest of the download after SIGTERM: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("download across SIGTERM: got different bytes, want the file")
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, p.stderr)
	}
}

func TestShutdownClosesIdleConns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sig         syscall.Signal
		clientClose bool          // the client closes its side on EOF, as curl and browsers do
		maxExit     time.Duration // from the signal to the exit
	}{
		{syscall.SIGTERM, true, 1500 * time.Millisecond},
		{syscall.SIGINT, true, 1500 * time.Millisecond},
		// A client that keeps its half of the connection open is drained
		// for the lingering close (2s), no longer: far below the idle and
		// shutdown timeouts.
		{syscall.SIGTERM, false, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v client closes %v", tt.sig, tt.clientClose), func(t *testing.T) {
			t.Parallel()
			p := startBinary(t, t.TempDir(), "-q", "--idle-timeout", "5m", "--shutdown-timeout", "20s")
			c := dialRaw(t, p)
			c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			if r := c.mustRead("GET"); r.status != 200 {
				t.Fatalf("GET /healthz: got %d, want 200", r.status)
			}
			// The connection now waits, idle, for its next request.
			start := time.Now()
			p.signal(t, tt.sig)
			_ = c.c.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := c.br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("idle connection after %v: got %d bytes and %v, want EOF at once", tt.sig, n, err)
			}
			if tt.clientClose {
				c.c.Close()
			}
			code := p.wait(t, 10*time.Second)
			if took := time.Since(start); took > tt.maxExit {
				t.Errorf("exit after %v with an idle keep-alive connection: took %v, want under %v", tt.sig, took.Round(time.Millisecond), tt.maxExit)
			}
			if code != 0 {
				t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, p.stderr)
			}
		})
	}
}

func TestShutdownTimeoutCutsUpload(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir(), "-q", "--shutdown-timeout", "1s")
	c := startUpload(t, p, "/files/dir/stuck", 1<<20, pattern(3, 64<<10))
	defer c.c.Close()
	waitTempFiles(t, p.root, 1)

	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 5*time.Second)
	took := time.Since(start)
	if code != 1 {
		t.Errorf("exit code: got %d, want 1; stderr:\n%s", code, p.stderr)
	}
	if took < 900*time.Millisecond || took > 4*time.Second {
		t.Errorf("exit after SIGTERM with --shutdown-timeout 1s: took %v, want about 1s", took.Round(time.Millisecond))
	}
	if _, err := os.Lstat(filepath.Join(p.root, "dir", "stuck")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cut-off upload: got stat error %v, want the file absent", err)
	}
	if tmp := tempFiles(t, p.root); len(tmp) != 0 {
		t.Errorf("temporary files left: %q, want none", tmp)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	for _, sigs := range [][2]syscall.Signal{
		{syscall.SIGTERM, syscall.SIGTERM},
		{syscall.SIGINT, syscall.SIGINT},
		{syscall.SIGTERM, syscall.SIGINT},
	} {
		t.Run(sigs[0].String()+" then "+sigs[1].String(), func(t *testing.T) {
			t.Parallel()
			p := startBinary(t, t.TempDir(), "-q", "--shutdown-timeout", "30s")
			c := startUpload(t, p, "/files/stuck", 1<<20, pattern(4, 64<<10))
			defer c.c.Close()
			waitTempFiles(t, p.root, 1)

			p.signal(t, sigs[0])
			// A refused connection shows the shutdown has begun.
			if !pollUntil(2*time.Second, func() bool { return dialRefused(p.addr) }) {
				t.Fatalf("a new connection after %v: got accepted, want refused", sigs[0])
			}
			if !p.isRunning() {
				t.Fatalf("the process exited before the stuck upload finished; stderr:\n%s", p.stderr)
			}
			start := time.Now()
			p.signal(t, sigs[1])
			code := p.wait(t, 5*time.Second)
			if took := time.Since(start); took > time.Second {
				t.Errorf("exit after a second signal: took %v, want at once", took.Round(time.Millisecond))
			}
			if code == 0 {
				t.Errorf("exit code after a second signal cut the shutdown short: got 0, want non-zero")
			}
		})
	}
}

// readNotifySocket reads datagrams from a NOTIFY_SOCKET until one has the line
// want, for up to 5s, and returns everything read.
func readNotifySocket(t testing.TB, conn *net.UnixConn, want string) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q on NOTIFY_SOCKET: got %q, then %v", want, got, err)
		}
		msg := string(buf[:n])
		got = append(got, msg)
		for line := range strings.SplitSeq(msg, "\n") {
			if line == want {
				return got
			}
		}
	}
}

func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := startBinaryCmd(t, t.TempDir(), func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock)
	}, "-q")

	got := readNotifySocket(t, conn, "READY=1")
	for _, msg := range got {
		if strings.Contains(msg, "STOPPING=1") {
			t.Errorf("before the signal: got %q, want no STOPPING=1", got)
		}
	}
	// READY=1 promises that requests are served.
	if r := request(t, p, "GET", "/healthz", nil, ""); r.status != 200 || string(r.body) != "ok" {
		t.Errorf("GET /healthz after READY=1: got %d %q, want 200 %q", r.status, r.body, "ok")
	}

	p.signal(t, syscall.SIGTERM)
	readNotifySocket(t, conn, "STOPPING=1")
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, p.stderr)
	}
}

func TestSocketActivation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		listenPID  string // shell expression for LISTEN_PID
		wantPassed bool   // serve on the passed socket, not on --port
	}{
		// LISTEN_PID must be the server's own PID, unknown before it starts:
		// a shell sets it to its own PID and execs the server, which keeps it.
		{"own pid", "$$", true},
		// Variables inherited from a socket-activated parent are not ours.
		{"another pid", "1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, passed := passedSocket(t)
			p := startBinaryCmd(t, t.TempDir(), func(cmd *exec.Cmd) {
				cmd.Args = append([]string{"/bin/sh", "-c", "LISTEN_PID=" + tt.listenPID + ` exec "$0" "$@"`}, cmd.Args...)
				cmd.Path = "/bin/sh"
				cmd.Env = append(cmd.Env, "LISTEN_FDS=1")
				cmd.ExtraFiles = []*os.File{f} // fd 3, as systemd passes it
			}, "-q")
			f.Close() // the server holds its own copy now

			if got := p.addr == passed; got != tt.wantPassed {
				t.Errorf("start-up line names %s, the passed socket is %s: got serving on it %v, want %v", p.addr, passed, got, tt.wantPassed)
			}
			if r := request(t, p, "GET", "/healthz", nil, ""); r.status != 200 || string(r.body) != "ok" {
				t.Errorf("GET /healthz on %s: got %d %q, want 200 %q", p.addr, r.status, r.body, "ok")
			}
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 5*time.Second); code != 0 {
				t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, p.stderr)
			}
		})
	}
}

func TestCrashDuringUploadKeepsOldFile(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	old := map[string]string{
		"big":         "old big",
		"dir/sub/big": "old sub",
		"fresh":       "", // absent before the upload: must stay absent
	}
	for name, content := range old {
		if content != "" {
			writeTree(t, root, name, []byte(content))
		}
	}
	p := startBinary(t, root, "-q")
	for name := range old {
		c := startUpload(t, p, "/files/"+name, 8<<20, pattern(5, 1<<20))
		defer c.c.Close()
	}
	waitTempFiles(t, root, len(old))
	// Let the bodies reach the temporary files, so that a torn write would
	// have something to tear.
	if !pollUntil(10*time.Second, func() bool {
		for _, tmp := range tempFiles(t, root) {
			if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the uploads' first bytes did not reach their temporary files %q", tempFiles(t, root))
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 5*time.Second)

	check := func(when string) {
		t.Helper()
		for name, content := range old {
			got, err := os.ReadFile(filepath.Join(root, name))
			switch {
			case content == "" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s: %s: got %q (%v), want it absent", when, name, got, err)
			case content != "" && (err != nil || string(got) != content):
				t.Errorf("%s: %s: got %q (%v), want the old %q", when, name, got, err, content)
			}
		}
	}
	check("after SIGKILL")
	if tmp := tempFiles(t, root); len(tmp) != len(old) {
		t.Errorf("after SIGKILL: got temporary files %q, want %d (one per killed upload)", tmp, len(old))
	}

	// The restart removes the stale temporaries, in the background; its
	// first line is still the start-up line (see
	// TestStartupLineFirstWithStaleTemps).
	p2 := startBinary(t, root, "-q")
	if !pollUntil(10*time.Second, func() bool { return len(tempFiles(t, root)) == 0 }) {
		t.Errorf("after restart: got temporary files %q, want none", tempFiles(t, root))
	}
	check("after restart")
	for name, content := range old {
		r := request(t, p2, "GET", "/files/"+name, nil, "")
		switch {
		case content == "" && r.status != 404:
			t.Errorf("GET /files/%s after restart: got %d, want 404", name, r.status)
		case content != "" && (r.status != 200 || string(r.body) != content):
			t.Errorf("GET /files/%s after restart: got %d %q, want 200 %q", name, r.status, r.body, content)
		}
	}
}

// TestStartupLineFirstWithStaleTemps: the contract promises one line at
// start; tools (and startBinary) take the first line for it.
func TestStartupLineFirstWithStaleTemps(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, store.TempPrefix+"stale", []byte("partial"))
	p := startBinary(t, root, "-q") // fails unless the first line is the start-up line
	if !pollUntil(10*time.Second, func() bool { return len(tempFiles(t, root)) == 0 }) {
		t.Errorf("after start: got temporary files %q, want none", tempFiles(t, root))
	}
	if r := request(t, p, "GET", "/healthz", nil, ""); r.status != 200 {
		t.Errorf("GET /healthz: got %d, want 200", r.status)
	}
}
