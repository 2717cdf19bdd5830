package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for the tests that run the built binary and talk to it over
// loopback TCP (cli, lifecycle, faults and stress tests): flags, exit codes,
// signals, systemd and faults can only be seen there.

const testVersion = "1.2.3-test"

// ioTimeout bounds every single socket operation of these tests.
const ioTimeout = 10 * time.Second

// --- The process ---

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds httpbox once per test run and returns its path.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "httpbox-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "httpbox")
		cmd := exec.Command("go", "build", "-o", binPath,
			"-ldflags", "-X main.version="+testVersion+" -X main.commit=abc1234 -X main.date=2026-01-02", ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lockedBuffer collects a process's stderr while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverProc is a running httpbox binary.
type serverProc struct {
	cmd    *exec.Cmd
	addr   string // host:port it really listens on
	root   string
	stderr *lockedBuffer
	// done is closed when the process has exited and all it wrote to
	// stderr is in stderr.
	done chan struct{}
	err  error // its exit error, valid after done
}

var startLine = regexp.MustCompile(`listening on http://([^\s,]+)(?:, http://\S+)* serving (.+)`)

// startBinary runs httpbox on 127.0.0.1 with a free port, serving root,
// and waits for its start-up line, which must be its first line. Extra args
// follow the defaults, so they can override them. The process is killed
// when the test ends.
func startBinary(t testing.TB, root string, args ...string) *serverProc {
	t.Helper()
	return startBinaryCmd(t, root, nil, args...)
}

// startBinaryCmd is startBinary with a hook to adjust the command (its
// environment, extra files) before it starts.
func startBinaryCmd(t testing.TB, root string, adjust func(*exec.Cmd), args ...string) *serverProc {
	t.Helper()
	return startServer(t, root, adjust, startLine, args...)
}

// startServer starts the binary and waits for its start-up line, which
// must match want; its first group is the address the server listens on.
func startServer(t testing.TB, root string, adjust func(*exec.Cmd), want *regexp.Regexp, args ...string) *serverProc {
	t.Helper()
	bin := buildBinary(t)
	all := []string{"--host", "127.0.0.1", "--port", "0"}
	if root != "" { // "" when args name the storage
		all = append(all, "--directory", root)
	}
	all = append(all, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = os.Environ()
	p := &serverProc{cmd: cmd, root: root, stderr: &lockedBuffer{}, done: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if adjust != nil {
		adjust(cmd)
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	lines := make(chan string, 1)
	stderrRead := make(chan struct{})
	go func() {
		defer close(stderrRead)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		first := true
		for sc.Scan() {
			p.stderr.Write(append(sc.Bytes(), '\n'))
			if first {
				first = false
				lines <- sc.Text()
			}
		}
		close(lines)
		_, _ = io.Copy(p.stderr, pr) // after a line too long to scan: keep reading
	}()
	go func() {
		err := cmd.Wait()
		// The pipe reaches EOF once the process is gone; waiting for it
		// lets tests read everything the process wrote once done closes.
		<-stderrRead
		p.err = err
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.isRunning() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case line := <-lines:
		m := want.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("start-up line %q does not match %v; stderr:\n%s", line, want, p.stderr)
		}
		p.addr = m[1]
	case <-time.After(15 * time.Second):
		t.Fatalf("no start-up line within 15s; stderr:\n%s", p.stderr)
	}
	return p
}

// url returns the http URL of path on the server.
func (p *serverProc) url(path string) string { return "http://" + p.addr + path }

// signal sends sig to the process.
func (p *serverProc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to d for the process to exit and returns its exit code.
// Everything it wrote to stderr is in p.stderr then.
func (p *serverProc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("process still running after %v; stderr:\n%s", d, p.stderr)
	}
	return exitStatus(p.err)
}

// isRunning reports whether the process has not exited yet.
func (p *serverProc) isRunning() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// runBinary runs httpbox to completion (for flags that exit at once) and
// returns its exit code, stdout and stderr.
func runBinary(t testing.TB, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitStatus(err), out.String(), errOut.String()
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("httpbox %s did not exit within 10s", strings.Join(args, " "))
	}
	return 0, "", ""
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// procStatus reads one field (in kB) of /proc/PID/status, e.g. VmHWM.
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) {
				if c >= '0' && c <= '9' {
					kb = kb*10 + int64(c-'0')
				}
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// openFDs counts the open file descriptors of the server, less the
// cache's: between requests it holds some files of up to
// store.MaxCachedFile open for reading (see store.Cache.MaxOpen), until a
// write drops them (TestHeldFilesOverTCP checks they close). A larger
// file's descriptor, an upload's and every socket count.
func openFDs(t testing.TB, p *serverProc) int {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !cachedFileHeld(p, filepath.Join(dir, e.Name())) {
			n++
		}
	}
	return n
}

// cachedFileHeld reports whether fd (a /proc/PID/fd link) is a file under
// the server's root that its cache may hold: open for reading only, and
// not larger than store.MaxCachedFile.
func cachedFileHeld(p *serverProc, fd string) bool {
	target, err := os.Readlink(fd)
	if err != nil || p.root == "" || !strings.HasPrefix(target, p.root+"/") {
		return false
	}
	fi, err := os.Stat(fd)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > store.MaxCachedFile {
		return false
	}
	info, err := os.ReadFile(strings.Replace(fd, "/fd/", "/fdinfo/", 1))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(info)) {
		if flags, ok := strings.CutPrefix(line, "flags:"); ok {
			mode, err := strconv.ParseUint(strings.TrimSpace(flags), 8, 64)
			return err == nil && mode&syscall.O_ACCMODE == syscall.O_RDONLY
		}
	}
	return false
}

// waitFDs polls the server's open descriptors until they are at most
// want, for up to d; it returns the last count seen.
// passedSocket opens a listening socket on 127.0.0.1 as systemd would pass
// it (socket activation): its file, for cmd.ExtraFiles, and its address.
// The caller's own listener is closed; the file keeps the socket.
func passedSocket(t testing.TB) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, ln.Addr().String()
}

// baseFDs is the server's count of open descriptors once it has settled:
// unchanged for 300 ms. The start-up sweep of stale temporary files holds
// a few while it runs, in the background.
func baseFDs(t testing.TB, p *serverProc) int {
	t.Helper()
	last := openFDs(t, p)
	for range 50 {
		time.Sleep(300 * time.Millisecond)
		n := openFDs(t, p)
		if n == last {
			return n
		}
		last = n
	}
	t.Fatalf("the server's open descriptors never settled (last %d)", last)
	return 0
}

func waitFDs(t testing.TB, p *serverProc, want int, d time.Duration) int {
	t.Helper()
	var n int
	pollUntil(d, func() bool {
		n = openFDs(t, p)
		return n <= want
	})
	return n
}

// pollUntil polls cond every 20ms for up to d and reports whether it held.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLinesAfterStart returns the lines of a server's stderr after the
// start-up line.
func logLinesAfterStart(p *serverProc) []string {
	lines := strings.Split(strings.TrimSuffix(p.stderr.String(), "\n"), "\n")
	return lines[1:]
}

// hasFieldsInOrder reports whether line has the given whitespace-separated
// fields (quotes ignored), in this order, not necessarily adjacent.
func hasFieldsInOrder(line string, want ...string) bool {
	fields := strings.Fields(strings.ReplaceAll(line, `"`, " "))
	i := 0
	for _, f := range fields {
		if i < len(want) && f == want[i] {
			i++
		}
	}
	return i == len(want)
}

// --- Raw connections ---

// rawConn is a raw client connection with a buffered reader.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// dialRaw opens a raw TCP connection to the server; it is closed when the
// test ends.
func dialRaw(t testing.TB, p *serverProc) *rawConn {
	t.Helper()
	return dialRawWith(t, p, &net.Dialer{Timeout: ioTimeout})
}

// dialRawWith is dialRaw with a Dialer of the test's choice.
func dialRawWith(t testing.TB, p *serverProc, d *net.Dialer) *rawConn {
	t.Helper()
	c, err := d.Dial("tcp", p.addr)
	if err != nil {
		select {
		case <-p.done:
			t.Fatalf("dial %s: %v: the server exited (%v); stderr:\n%s", p.addr, err, p.err, p.stderr)
		default:
		}
		t.Fatalf("dial %s: %v", p.addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

// smallRcvBufDialer is a Dialer whose sockets get a small receive buffer,
// so that a client that stops reading stalls the server quickly.
func smallRcvBufDialer(size int) *net.Dialer {
	return &net.Dialer{
		Timeout: ioTimeout,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
			})
			return errors.Join(err, serr)
		},
	}
}

// dialRefused reports whether a new connection to addr is refused.
func dialRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// send writes s, failing the test if the write does not complete in time.
func (c *rawConn) send(s string) {
	c.t.Helper()
	if err := c.trySend(s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// trySend writes s within ioTimeout and returns the error.
func (c *rawConn) trySend(s string) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := io.WriteString(c.c, s)
	return err
}

// rawResp is a response read off a raw connection, body included.
type rawResp struct {
	status int
	header http.Header
	body   []byte
}

// read reads one response to a request with the given method (HEAD has no
// body), allowing wait for all of it.
func (c *rawConn) read(method string, wait time.Duration) (*rawResp, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading body of %d response: %w", resp.StatusCode, err)
	}
	return &rawResp{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// mustRead is read that fails the test on error.
func (c *rawConn) mustRead(method string) *rawResp {
	c.t.Helper()
	r, err := c.read(method, ioTimeout)
	if err != nil {
		c.t.Fatalf("reading %s response: %v", method, err)
	}
	return r
}

// rest reads whatever the server still sends for up to wait and reports
// whether the server closed the connection (EOF or reset) in that time.
func (c *rawConn) rest(wait time.Duration) (data []byte, closed bool) {
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	data, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return data, false
	}
	return data, true // io.ReadAll returns nil at EOF; anything else is a reset
}

// request sends one request on a fresh connection (Connection: close) and
// returns the response. headers are full "Name: value" lines. A body, and
// any POST or PUT, is sent with its Content-Length, from a goroutine, so
// that a server that answers before reading it all (413, 507) cannot
// deadlock the test.
func request(t testing.TB, p *serverProc, method, target string, headers []string, body string) *rawResp {
	t.Helper()
	c := dialRaw(t, p)
	defer c.c.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", method, target)
	for _, h := range headers {
		head.WriteString(h + "\r\n")
	}
	if body != "" || method == http.MethodPost || method == http.MethodPut {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", len(body))
	}
	head.WriteString("\r\n")
	c.send(head.String())
	go func() { _ = c.trySend(body) }()
	// Megabytes onto a slow or full disk may take a while.
	r, err := c.read(method, 3*ioTimeout)
	if err != nil {
		t.Fatalf("%s %s: no response: %v", method, target, err)
	}
	return r
}

// getRaw sends one GET on a fresh connection and returns the response.
func getRaw(t testing.TB, p *serverProc, path string) *rawResp {
	t.Helper()
	return request(t, p, http.MethodGet, path, nil, "")
}

// upload sends body with method to path on a fresh connection and returns
// the response.
func upload(t testing.TB, p *serverProc, method, path string, body []byte) *rawResp {
	t.Helper()
	return request(t, p, method, path, nil, string(body))
}

// startUpload opens a connection, sends the head of a PUT of total bytes to
// target and part, the first bytes of its body, and returns the connection
// so that the test can finish (or abandon) the upload.
func startUpload(t testing.TB, p *serverProc, target string, total int, part []byte) *rawConn {
	t.Helper()
	c := dialRaw(t, p)
	c.send(fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", target, total))
	c.send(string(part))
	return c
}

// assertHealthy checks that the server is running and answers GET /healthz
// on a new connection.
func assertHealthy(t testing.TB, p *serverProc) {
	t.Helper()
	if !p.isRunning() {
		t.Fatalf("server exited: %v; stderr:\n%s", p.err, p.stderr)
	}
	if r := getRaw(t, p, "/healthz"); r.status != 200 || string(r.body) != "ok" {
		t.Fatalf("GET /healthz: got %d %q, want 200 \"ok\"", r.status, r.body)
	}
}

// firstLine returns the first line of a reply, for messages.
func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	return string(line)
}

// --- An HTTP client ---

// newClient returns an HTTP client for the server whose idle connections
// are closed when the test ends. Every request has a time limit.
func newClient(t testing.TB, timeout time.Duration) (*http.Client, *http.Transport) {
	t.Helper()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: ioTimeout}).DialContext,
		MaxIdleConnsPerHost: 32,
		DisableCompression:  true,
		// An upload the server refuses early is answered, not reset.
		ResponseHeaderTimeout: timeout,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}, tr
}

// doHTTP sends one request with c and returns status, headers and body.
func doHTTP(c *http.Client, method, url string, body []byte) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// --- Content and files ---

// pattern returns n deterministic bytes that differ for each seed.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 24)
	}
	return b
}

// blockReader is a deterministic reader of n bytes: blocks of a fixed
// pattern, each stamped with its index, so that a lost, repeated or
// reordered block changes the hash.
type blockReader struct {
	base, cur []byte
	blk       int64
	off, n    int64
}

const readerBlock = 1 << 20

func newBlockReader(n int64) *blockReader {
	return &blockReader{base: pattern(42, readerBlock), blk: -1, n: n}
}

func (g *blockReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if b := g.off / readerBlock; b != g.blk {
		g.cur = append(g.cur[:0], g.base...)
		binary.LittleEndian.PutUint64(g.cur, uint64(b))
		g.blk = b
	}
	i := g.off % readerBlock
	n := copy(p, g.cur[i:min(readerBlock, i+g.n-g.off)])
	g.off += int64(n)
	return n, nil
}

// writeTree writes a file under dir, creating parents; name uses slashes.
func writeTree(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tempFiles lists the upload temporary files anywhere under dir. What
// vanishes while it looks (an upload ending) is skipped; any other error,
// or a missing dir, fails the test.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var temps []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if strings.HasPrefix(d.Name(), store.TempPrefix) {
			temps = append(temps, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("looking for temporary files: %v", err)
	}
	return temps
}

// waitTempFiles waits until n upload temporaries exist under root, which
// shows that the server is inside the handlers of n uploads.
func waitTempFiles(t testing.TB, root string, n int) {
	t.Helper()
	if !pollUntil(5*time.Second, func() bool { return len(tempFiles(t, root)) >= n }) {
		t.Fatalf("got temporary files %q, want %d: the uploads did not start", tempFiles(t, root), n)
	}
}

// mountTmpfs mounts a small tmpfs in a temporary directory and unmounts
// it when the test ends; it skips the test where that is not possible.
func mountTmpfs(t testing.TB, opts string) string {
	t.Helper()
	// In CI a missing capability is a failure, never a silent skip.
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("disk-fault tests need root (to mount a tmpfs)")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		skip("disk-fault tests need `mount -t tmpfs`, which failed here (%v: %s)", err, bytes.TrimSpace(out))
	}
	// Registered after t.TempDir, so it runs before the directory is
	// removed; servers started later are killed before it runs.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// readSlowly reads body as a slow but steady client does, 256 KiB every
// 300 ms, renewing conn's read deadline each time, and fails unless it
// gets exactly want. It returns how long that took.
func readSlowly(t testing.TB, conn net.Conn, body io.Reader, want []byte) time.Duration {
	t.Helper()
	start := time.Now()
	h := sha256.New()
	var got int64
	for got < int64(len(want)) {
		time.Sleep(300 * time.Millisecond)
		_ = conn.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := io.CopyN(h, body, 256<<10)
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("slow download cut off after %v at byte %d of %d: %v", time.Since(start), got, len(want), err)
		}
	}
	sum := sha256.Sum256(want)
	if got != int64(len(want)) || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("slow download: got %d bytes (hash match %v), want exactly the %d bytes of the file", got, bytes.Equal(h.Sum(nil), sum[:]), len(want))
	}
	return time.Since(start)
}
