package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Survival tests: what happens around a running service (a connection
// flood at the descriptor limit, its log reader gone, stray signals, a
// deploy's SIGTERM at once, systemd passing several sockets) never ends
// or stalls it.

// TestAcceptErrorsDoNotEndServer: a flood of connections past the
// descriptor limit is refused or queued, and the server serves again
// once it is over. fasthttp's Serve used to return on the first EMFILE.
func TestAcceptErrorsDoNotEndServer(t *testing.T) {
	p := startBinaryCmd(t, t.TempDir(), func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"/bin/sh", "-c", `ulimit -n 40 && exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
	}, "-q")
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 80 {
		c, err := net.DialTimeout("tcp", p.addr, ioTimeout)
		if err != nil {
			break // the backlog is full: refused, which is fine
		}
		// A request that never ends holds its descriptor.
		_, _ = c.Write([]byte("PUT /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"))
		flood = append(flood, c)
	}
	time.Sleep(300 * time.Millisecond) // let the server run into its limit
	if !p.isRunning() {
		t.Fatalf("the server exited under a flood of %d connections; stderr:\n%s", len(flood), p.stderr)
	}
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	healthy := func() bool {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		return err == nil && r.StatusCode == 200
	}
	if !pollUntil(15*time.Second, healthy) {
		t.Fatalf("the server does not serve again after the flood; running %v; stderr:\n%s", p.isRunning(), p.stderr)
	}
}

// TestLosingStderrReaderKeepsServing: when the reader of stderr goes away
// (journald restarted, a pipe closed), log writes fail and lines are
// dropped; the process is not killed by SIGPIPE.
func TestLosingStderrReaderKeepsServing(t *testing.T) {
	bin := buildBinary(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", "0", "-d", t.TempDir())
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	p := &serverProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	m := startLine.FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("start-up line %q: %v", line, err)
	}
	pr.Close() // the reader goes away
	p.addr = m[1]
	for i := range 50 {
		c, err := net.DialTimeout("tcp", p.addr, ioTimeout)
		if err != nil {
			t.Fatalf("request %d: %v (the server running: %v, %v)", i, err, p.isRunning(), p.err)
		}
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		_, _ = fmt.Fprintf(c, "GET /echo/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i)
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("request %d after stderr's reader left: %v (the server running: %v, %v)", i, err, p.isRunning(), p.err)
		}
		time.Sleep(10 * time.Millisecond) // let the log flusher write
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit after SIGTERM: got %d (%v), want 0", code, p.err)
	}
}

// TestStraySignalsDoNotStop: SIGHUP (a systemctl reload), SIGUSR1,
// SIGUSR2 and SIGPIPE never stop the server.
func TestStraySignalsDoNotStop(t *testing.T) {
	p := startBinary(t, t.TempDir())
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE} {
		p.signal(t, sig)
		assertHealthy(t, p)
	}
	if !pollUntil(2*time.Second, func() bool { return strings.Contains(p.stderr.String(), "hangup received") }) {
		t.Errorf("SIGHUP was not logged; stderr:\n%s", p.stderr)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit after SIGTERM: got %d, want 0", code)
	}
}

// TestSIGTERMRightAfterStartLine: a deploy may send SIGTERM the moment
// the start-up line (or READY=1) appears; that is a clean shutdown, every
// time. The handler used to be installed after the line.
func TestSIGTERMRightAfterStartLine(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			p := startBinary(t, t.TempDir(), "-q")
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Errorf("run %d: exit after an immediate SIGTERM: got %d (%v), want 0", i, code, p.err)
			}
		})
	}
	wg.Wait()
}

// TestSecondSignalFlushesLog: a second signal exits at once, but the log
// lines of the requests that finished are written first.
func TestSecondSignalFlushesLog(t *testing.T) {
	p := startBinary(t, t.TempDir(), "--shutdown-timeout", "30s")
	c := startUpload(t, p, "/files/stuck", 1<<20, pattern(4, 64<<10))
	defer c.c.Close()
	waitTempFiles(t, p.root, 1)
	getRaw(t, p, "/echo/finished-before-the-signals")
	p.signal(t, syscall.SIGTERM)
	if !pollUntil(2*time.Second, func() bool { return dialRefused(p.addr) }) {
		t.Fatal("the shutdown did not begin")
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code == 0 {
		t.Errorf("exit after a second signal: got 0, want non-zero")
	}
	if !strings.Contains(p.stderr.String(), "GET /echo/finished-before-the-signals 200") {
		t.Errorf("the finished request's log line is missing; stderr:\n%s", p.stderr)
	}
}

// TestSocketActivationSeveralSockets: every socket systemd passes is
// served (say one for IPv4 and one for IPv6), not only the first.
func TestSocketActivationSeveralSockets(t *testing.T) {
	var files []*os.File
	var addrs []string
	for range 2 {
		f, addr := passedSocket(t)
		files = append(files, f)
		addrs = append(addrs, addr)
	}
	p := startBinaryCmd(t, t.TempDir(), func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
		cmd.Env = append(cmd.Env, "LISTEN_FDS=2")
		cmd.ExtraFiles = files // fds 3 and 4, as systemd passes them
	}, "-q")
	for _, f := range files {
		f.Close()
	}
	for _, addr := range addrs {
		if !strings.Contains(p.stderr.String(), "http://"+addr) {
			t.Errorf("the start-up line does not name %s: %q", addr, firstLine([]byte(p.stderr.String())))
		}
		q := &serverProc{addr: addr, done: p.done}
		if r := getRaw(t, q, "/healthz"); r.status != 200 {
			t.Errorf("GET /healthz on %s: got %d, want 200", addr, r.status)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit after SIGTERM: got %d, want 0; stderr:\n%s", code, p.stderr)
	}
}

// TestShutdownWithIdleClient: an idle keep-alive connection is closed at
// once at shutdown and is no request cut off: with --shutdown-timeout 1s
// the exit is 0. Its close used to linger for 2 s, and the shutdown
// waited for it.
func TestShutdownWithIdleClient(t *testing.T) {
	p := startBinary(t, t.TempDir(), "--shutdown-timeout", "1s")
	c := dialRaw(t, p)
	c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := c.mustRead(http.MethodGet); r.status != 200 {
		t.Fatalf("GET /healthz: got %d", r.status)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit with an idle client: got %d, want 0; stderr:\n%s", code, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "cut off") {
		t.Errorf("an idle connection counted as a request cut off; stderr:\n%s", p.stderr)
	}
	if _, closed := c.rest(time.Second); !closed {
		t.Error("the idle connection was not closed")
	}
}
