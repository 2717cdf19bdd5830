package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Descriptors and shutdown: the sockets a closing connection keeps open
// for its lingering drain are bounded, so no client can use up the
// descriptors; and a shutdown closes at once every connection waiting for
// a request, whether it has sent one before or nothing at all.

// TestSurvivalSequentialClosesKeepDescriptors: a client sending request
// after request with Connection: close, each on a new connection it keeps
// open, leaves the server a lingering socket each time. Those sockets are
// outside the connection limit; unbounded, 200 of them used up a limit of
// 100 descriptors: accept failed with EMFILE and other clients got 500.
func TestSurvivalSequentialClosesKeepDescriptors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	big := pattern(7, 256<<10) // more than sendChunk: sent from the open file
	writeTree(t, root, "big", big)
	p := startBinaryCmd(t, root, func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"/bin/sh", "-c", `ulimit -n 100 && exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
	})

	// Another client's keep-alive connection, open through the flood.
	other := dialRaw(t, p)
	other.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := other.mustRead("GET"); r.status != 200 {
		t.Fatalf("GET /healthz before the flood: got %d, want 200", r.status)
	}

	var kept []net.Conn
	defer func() {
		for _, c := range kept {
			c.Close()
		}
	}()
	for i := range 200 {
		c, err := net.DialTimeout("tcp", p.addr, ioTimeout)
		if err != nil {
			t.Fatalf("request %d: dial: %v", i, err)
		}
		// The client keeps its end open: the server's drain of each
		// closed connection lasts its full linger time.
		kept = append(kept, c)
		rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
		if err := rc.trySend("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		r, err := rc.read("GET", 3*time.Second)
		if err != nil {
			t.Fatalf("request %d: no answer within 3s: %v; stderr:\n%s", i, err, tail(p.stderr.String(), 20))
		}
		if r.status != 200 {
			t.Fatalf("request %d: got %d, want 200", i, r.status)
		}
	}

	c := dialRaw(t, p)
	c.send("GET /files/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if r := c.mustRead("GET"); r.status != 200 || !bytes.Equal(r.body, big) {
		t.Errorf("GET /files/big after the flood: got %d with %d bytes, want 200 with %d", r.status, len(r.body), len(big))
	}
	body := pattern(8, 100<<10)
	other.send(fmt.Sprintf("PUT /files/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body)))
	go func() { _ = other.trySend(string(body)) }()
	if r := other.mustRead("PUT"); r.status != 201 {
		t.Errorf("PUT on the other client's connection after the flood: got %d %q, want 201", r.status, firstLine(r.body))
	}
	if got, err := os.ReadFile(filepath.Join(root, "up")); err != nil || !bytes.Equal(got, body) {
		t.Errorf("stored file: got %d bytes (%v), want the %d bytes sent", len(got), err, len(body))
	}
	time.Sleep(100 * time.Millisecond) // let the log flusher write
	if log := p.stderr.String(); strings.Contains(log, "too many open files") {
		t.Errorf("the server ran out of descriptors; stderr:\n%s", grepLines(log, "too many open files", 10))
	}
}

// TestShutdownClosesWaitingConns: at SIGTERM, a connection that has sent
// nothing yet and a keep-alive connection between requests are closed at
// once and do not count as requests cut off, while an upload in progress
// still completes. fasthttp counts a new connection idle only 5 s after
// it opens, so the shutdown used to wait for it until --shutdown-timeout
// and exit 1.
func TestShutdownClosesWaitingConns(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir(), "-q", "--shutdown-timeout", "2s")
	fresh := dialRaw(t, p) // sends nothing
	kept := dialRaw(t, p)
	kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := kept.mustRead("GET"); r.status != 200 {
		t.Fatalf("GET /healthz: got %d, want 200", r.status)
	}
	body := pattern(9, 256<<10)
	half := len(body) / 2
	up := startUpload(t, p, "/files/up", len(body), body[:half])
	waitTempFiles(t, p.root, 1)
	time.Sleep(100 * time.Millisecond) // the fresh connection's reader is waiting

	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	for name, c := range map[string]*rawConn{"a connection that sent nothing": fresh, "an idle keep-alive connection": kept} {
		data, closed := c.rest(time.Second)
		if !closed {
			t.Errorf("%s: still open 1s after SIGTERM, want closed at once", name)
		} else if len(data) != 0 {
			t.Errorf("%s: got %q before the close, want nothing", name, firstLine(data))
		}
	}
	if !p.isRunning() {
		t.Fatalf("the process exited before the upload in progress finished; stderr:\n%s", p.stderr)
	}
	if err := up.trySend(string(body[half:])); err != nil {
		t.Fatalf("sending the rest of the upload after SIGTERM: %v", err)
	}
	if r := up.mustRead("PUT"); r.status != 201 {
		t.Errorf("upload in progress at SIGTERM: got %d, want 201", r.status)
	}
	code := p.wait(t, 5*time.Second)
	if code != 0 {
		t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, p.stderr)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("the shutdown took %v, want well under --shutdown-timeout (2s)", took.Round(time.Millisecond))
	}
	if strings.Contains(p.stderr.String(), "cut off") {
		t.Errorf("stderr says requests were cut off:\n%s", p.stderr)
	}
	got, err := os.ReadFile(filepath.Join(p.root, "up"))
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("stored file: got %d bytes (%v), want the %d bytes sent", len(got), err, len(body))
	}
}

// TestShutdownWithOnlyAFreshConn: a connection that has sent nothing does
// not hold up the shutdown at all.
func TestShutdownWithOnlyAFreshConn(t *testing.T) {
	t.Parallel()
	p := startBinary(t, t.TempDir(), "-q", "--shutdown-timeout", "2s")
	fresh := dialRaw(t, p)
	assertHealthy(t, p) // the fresh connection was accepted before this one
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 5*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the shutdown took %v, want at once", took.Round(time.Millisecond))
	}
	if code != 0 || strings.Contains(p.stderr.String(), "cut off") {
		t.Errorf("exit code %d, want 0 with nothing cut off; stderr:\n%s", code, p.stderr)
	}
	if _, closed := fresh.rest(time.Second); !closed {
		t.Errorf("the fresh connection is still open after the process exited")
	}
}

// tail returns the last n lines of s, for messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// grepLines returns up to n lines of s that contain sub, for messages.
func grepLines(s, sub string, n int) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) && len(out) < n {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
