package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Data-safety tests: what an attacker or an unlucky client does to a
// write, and what must still hold afterwards. Each states the promise it
// guards in its name.

// cutPoints are where a cut-off upload stops: nothing, one byte, inside
// and just past fasthttp's read-ahead, and well into the stream.
var cutPoints = []int{0, 1, 4 << 10, 8<<10 + 1, 64 << 10, 1 << 20}

// TestCutOffUploadNeverReachesDisk: a client that sends part of a body and
// then closes its side has not sent a file. For both methods and both
// framings, at every cut point, the old file stays and a new name stays
// absent.
func TestCutOffUploadNeverReachesDisk(t *testing.T) {
	root := t.TempDir()
	p := startBinary(t, root)
	old := []byte("ORIGINAL")
	for _, method := range []string{http.MethodPut, http.MethodPost} {
		for _, chunked := range []bool{false, true} {
			for _, cut := range cutPoints {
				framing := "content-length"
				if chunked {
					framing = "chunked"
				}
				t.Run(fmt.Sprintf("%s/%s/%d", method, framing, cut), func(t *testing.T) {
					writeTree(t, root, "v", old)
					_ = os.Remove(filepath.Join(root, "new"))
					for _, name := range []string{"v", "new"} {
						r := sendCutOff(t, p, method, "/files/"+name, cut, chunked)
						if r != nil && r.status < 300 {
							t.Errorf("%s /files/%s cut after %d bytes: got %d, want an error status", method, name, cut, r.status)
						}
					}
					if got, err := os.ReadFile(filepath.Join(root, "v")); err != nil || !bytes.Equal(got, old) {
						t.Errorf("after a cut-off replace, v holds %d bytes (err %v), want %q", len(got), err, old)
					}
					if _, err := os.Lstat(filepath.Join(root, "new")); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("after a cut-off create, new exists (err %v)", err)
					}
					if temps := tempFiles(t, root); len(temps) > 0 {
						t.Errorf("temporary files left: %v", temps)
					}
				})
			}
		}
	}
	assertHealthy(t, p)
}

// sendCutOff sends the head of an upload that promises 2 MiB, cut bytes
// of its body, then shuts its write side, and returns the response (nil
// when the server closed without one, which is also a refusal).
func sendCutOff(t *testing.T, p *serverProc, method, target string, cut int, chunked bool) *rawResp {
	t.Helper()
	c := dialRaw(t, p)
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: x\r\n", method, target)
	body := bytes.Repeat([]byte{'A'}, cut)
	if chunked {
		req.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if cut > 0 {
			fmt.Fprintf(&req, "%x\r\n%s\r\n", cut, body)
		}
	} else {
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", 2<<20, body)
	}
	c.send(req.String())
	if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r, err := c.read(method, ioTimeout)
	if err != nil {
		if _, closed := c.rest(ioTimeout); !closed {
			t.Fatalf("%s %s cut after %d bytes: no response and no close: %v", method, target, cut, err)
		}
		return nil
	}
	return r
}

// TestSlowSteadyUploadIsNotCutOff: --read-timeout bounds a pause between
// two reads of a body, from the first body byte on, whatever the body's
// size, with or without Expect: 100-continue. A real pause still gets 408
// and changes nothing.
func TestSlowSteadyUploadIsNotCutOff(t *testing.T) {
	root := t.TempDir()
	p := startBinary(t, root, "--read-timeout", "1s")
	cases := []struct {
		name        string
		size, step  int
		pause       time.Duration
		expect      bool
		chunked     bool
		want        int
		wantWritten bool
	}{
		// 3 s for 30 bytes, 12 KiB in 3.6 s: far over the timeout in total.
		{name: "small", size: 30, step: 1, pause: 100 * time.Millisecond, want: 201, wantWritten: true},
		{name: "large", size: 12 << 10, step: 1 << 10, pause: 300 * time.Millisecond, want: 201, wantWritten: true},
		{name: "large-expect", size: 12 << 10, step: 1 << 10, pause: 300 * time.Millisecond, expect: true, want: 201, wantWritten: true},
		{name: "chunked", size: 3 << 10, step: 1 << 10, pause: 300 * time.Millisecond, chunked: true, want: 201, wantWritten: true},
		{name: "stalled", size: 30, step: 10, pause: 2500 * time.Millisecond, want: 408},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "slow-" + tc.name
			c := dialRaw(t, p)
			head := fmt.Sprintf("PUT /files/%s HTTP/1.1\r\nHost: x\r\n", name)
			if tc.chunked {
				head += "Transfer-Encoding: chunked\r\n"
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n", tc.size)
			}
			if tc.expect {
				head += "Expect: 100-continue\r\n"
			}
			c.send(head + "\r\n")
			if tc.expect {
				if r := c.mustRead(http.MethodPut); r.status != 100 {
					t.Fatalf("Expect: got %d, want 100 Continue", r.status)
				}
			}
			body := pattern(7, tc.size)
			for off := 0; off < len(body); off += tc.step {
				part := body[off:min(off+tc.step, len(body))]
				if tc.chunked {
					part = fmt.Appendf(nil, "%x\r\n%s\r\n", len(part), part)
				}
				if c.trySend(string(part)) != nil {
					break // refused: the answer says why
				}
				time.Sleep(tc.pause)
			}
			if tc.chunked {
				_ = c.trySend("0\r\n\r\n")
			}
			r := c.mustRead(http.MethodPut)
			if r.status != tc.want {
				t.Fatalf("got %d %q, want %d", r.status, r.body, tc.want)
			}
			got, err := os.ReadFile(filepath.Join(root, name))
			if tc.wantWritten && !bytes.Equal(got, body) {
				t.Errorf("file holds %d bytes (err %v), want the %d sent", len(got), err, len(body))
			}
			if !tc.wantWritten && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused upload left a file of %d bytes (err %v)", len(got), err)
			}
		})
	}
}

// TestRefusedWriteLeavesNoParents: a write that fails (413 past the limit
// on a chunked body, 400 for a name too long, 507 on a full disk) leaves
// no directory behind that it created on its way.
func TestRefusedWriteLeavesNoParents(t *testing.T) {
	root := mountTmpfs(t, "size=1m")
	p := startBinary(t, root, "--max-body-size", "512KiB")
	long := strings.Repeat("a", 256) // one past NAME_MAX

	c := dialRaw(t, p)
	c.send("PUT /files/q1/q2/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, bytes.Repeat([]byte{'x'}, 64<<10))
	for range 9 { // 576 KiB: past the limit
		if c.trySend(chunk) != nil {
			break
		}
	}
	if r := c.mustRead(http.MethodPut); r.status != 413 {
		t.Errorf("chunked PUT past the limit: got %d %q, want 413", r.status, r.body)
	}
	if r := upload(t, p, "PUT", "/files/q1/q2/"+long, []byte("x")); r.status != 400 {
		t.Errorf("PUT of a %d-byte name: got %d %q, want 400", len(long), r.status, r.body)
	}
	// 500 KiB is under the limit, but not free on the 1 MiB disk.
	writeTree(t, root, "filler", pattern(3, 600<<10))
	if r := upload(t, p, "PUT", "/files/q1/q2/f", pattern(4, 500<<10)); r.status != 507 {
		t.Errorf("PUT onto a full disk: got %d %q, want 507", r.status, r.body)
	}
	if _, err := os.Lstat(filepath.Join(root, "q1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused writes left the directory q1 behind (err %v)", err)
	}
	if r := upload(t, p, "PUT", "/files/q1/q2/f", []byte("fits")); r.status != 201 {
		t.Errorf("PUT that fits: got %d %q, want 201", r.status, r.body)
	}
}

// TestRefusalOrderHoldsForEveryPath: the contract's order (401, 403, 400,
// 413) is the same with and without Expect: 100-continue, and a name too
// long is a bad path, before the size.
func TestRefusalOrderHoldsForEveryPath(t *testing.T) {
	s := newTestServer(t, func(c *config) { c.token = "secret" })
	long := strings.Repeat("b", 256) // one past NAME_MAX
	auth := "Authorization: Bearer secret"
	if r, _ := s.raw(t, "PUT /files/"+long+" HTTP/1.1\r\nHost: x\r\n"+auth+"\r\nContent-Length: 2000000\r\n\r\n"+strings.Repeat("x", 8<<10), time.Second); !strings.HasPrefix(r, "HTTP/1.1 400") {
		t.Errorf("long name and a body over the limit: got %q, want 400", firstLine([]byte(r)))
	}
	for _, expect := range []string{"", "Expect: 100-continue\r\n"} {
		r, _ := s.raw(t, "PUT /files/%zz HTTP/1.1\r\nHost: x\r\n"+expect+"Content-Length: 5\r\n\r\nhello", time.Second)
		if !strings.HasPrefix(r, "HTTP/1.1 400") {
			t.Errorf("PUT /files/%%zz without a token (%q): got %q, want 400", strings.TrimSpace(expect), firstLine([]byte(r)))
		}
	}
}

// TestMaxBodySizeIsBounded: a limit near the int64 maximum used to be
// accepted and then overflow on every upload.
func TestMaxBodySizeIsBounded(t *testing.T) {
	for _, v := range []string{"9223372036854775807", "8388608TiB", "9000000000GB"} {
		if _, err := parseFlags([]string{"--max-body-size", v, "-d", t.TempDir()}, noEnv, io.Discard); err == nil {
			t.Errorf("--max-body-size %s accepted, want a usage error", v)
		}
	}
	cfg, err := parseFlags([]string{"--max-body-size", "1125899906842624", "-d", t.TempDir()}, noEnv, io.Discard)
	if err != nil || cfg.maxBodySize != 1<<50 {
		t.Errorf("--max-body-size 1 PiB: got %d, %v; want it accepted", cfg.maxBodySize, err)
	}
}

func noEnv(string) (string, bool) { return "", false }

// TestPortIsDecimal: pflag's int flags read Go literals, so 010 was port 8.
func TestPortIsDecimal(t *testing.T) {
	cfg, err := parseFlags([]string{"--port", "010", "-d", t.TempDir()}, noEnv, io.Discard)
	if err != nil || cfg.port != 10 {
		t.Errorf("--port 010: got %d, %v; want 10", cfg.port, err)
	}
	for _, v := range []string{"0x50", "1_000", "+80", "-1", "65536", ""} {
		if _, err := parseFlags([]string{"--port", v, "-d", t.TempDir()}, noEnv, io.Discard); err == nil {
			t.Errorf("--port %q accepted, want a usage error", v)
		}
	}
}

// TestConcurrentCreatesOneCreated: of two writers creating one name at
// once, exactly one is told it created it.
func TestConcurrentCreatesOneCreated(t *testing.T) {
	s := newTestServer(t, nil)
	for i := range 40 {
		path := fmt.Sprintf("/files/race-%d", i)
		var statuses [2]int
		var wg sync.WaitGroup
		for w := range statuses {
			wg.Go(func() { statuses[w] = s.do(t, "PUT", path, fmt.Sprint(w)).status })
		}
		wg.Wait()
		if created := countOf(statuses[:], 201); created != 1 || countOf(statuses[:], 204) != 1 {
			t.Fatalf("two PUTs creating %s: got %v, want one 201 and one 204", path, statuses)
		}
	}
}

func countOf(statuses []int, want int) int {
	n := 0
	for _, s := range statuses {
		if s == want {
			n++
		}
	}
	return n
}

// TestWriteRacingParentDelete: a PUT whose parent directory is removed
// under it, between the creation of the parent and of the temporary file,
// is retried or refused with 409, never a 500.
func TestWriteRacingParentDelete(t *testing.T) {
	s := newTestServer(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = os.Remove(filepath.Join(s.root, "pe"))
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	for i := range 2000 {
		if put := s.do(t, "PUT", "/files/pe/f", "x").status; put != 201 && put != 204 && put != 409 {
			t.Fatalf("round %d: PUT /files/pe/f while pe is being removed: got %d, want 201, 204 or 409", i, put)
		}
		_ = os.Remove(filepath.Join(s.root, "pe", "f"))
	}
}

// TestSpecialFilesNeverBlock: a FIFO in the root gets 404 at once; opening
// it for reading used to wait for a writer, holding a thread for good.
func TestSpecialFilesNeverBlock(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, root)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			c := dialRaw(t, p)
			c.send("GET /files/fifo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if r, err := c.read(http.MethodGet, ioTimeout); err != nil || r.status != 404 {
				t.Errorf("GET of a FIFO: got %v, %v; want 404", r, err)
			}
		})
	}
	wg.Wait()
	assertHealthy(t, p)
}

// TestConditionalWrites: If-Match and If-None-Match on PUT, POST and
// DELETE (RFC 9110 section 13.1); a failed condition is 412 and changes
// nothing.
func TestConditionalWrites(t *testing.T) {
	s := newTestServer(t, nil)
	read := func() string {
		b, err := os.ReadFile(filepath.Join(s.root, "c"))
		if err != nil {
			return "<absent>"
		}
		return string(b)
	}
	steps := []struct {
		method, header, body string
		want                 int
		after                string
	}{
		{"PUT", "If-Match: *", "a", 412, "<absent>"},
		{"PUT", "If-None-Match: *", "one", 201, "one"},
		{"PUT", "If-None-Match: *", "two", 412, "one"},
		{"POST", "If-None-Match: *", "two", 412, "one"},
		{"PUT", `If-Match: "stale"`, "two", 412, "one"},
		{"PUT", "If-Match: {etag}", "two", 204, "two"},
		{"PUT", "If-Match: W/{etag}", "three", 412, "two"},
		{"PUT", "If-None-Match: {etag}", "three", 412, "two"},
		{"PUT", `If-None-Match: "other", W/{etag}`, "three", 412, "two"},
		{"PUT", `If-None-Match: "other"`, "three", 204, "three"},
		{"DELETE", `If-Match: "stale"`, "", 412, "three"},
		{"DELETE", "If-Match: {etag}", "", 204, "<absent>"},
	}
	for _, st := range steps {
		etag := s.do(t, "HEAD", "/files/c", "", "").get("ETag")
		header := strings.ReplaceAll(st.header, "{etag}", etag)
		r := s.do(t, st.method, "/files/c", st.body, header)
		if r.status != st.want || read() != st.after {
			t.Errorf("%s %s: got %d and the file %q, want %d and %q", st.method, header, r.status, read(), st.want, st.after)
		}
	}
}

// TestCreateOnlyIsAtomic: of many writers with If-None-Match: * at once,
// exactly one creates the file and the others get 412.
func TestCreateOnlyIsAtomic(t *testing.T) {
	s := newTestServer(t, nil)
	statuses := make([]int, 8)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = s.do(t, "PUT", "/files/once", fmt.Sprint(i), "If-None-Match: *").status })
	}
	wg.Wait()
	if countOf(statuses, 201) != 1 || countOf(statuses, 412) != len(statuses)-1 {
		t.Errorf("create-only PUTs at once: got %v, want one 201 and the rest 412", statuses)
	}
}

// TestRenameIsDurable: after the link or rename that publishes an upload,
// the directory holding it is synced, so that an answered write survives
// a power cut. strace, attached to the running server, shows the fsync.
func TestRenameIsDurable(t *testing.T) {
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("this test needs strace (.ci/run installs it): %v", err)
	}
	root := t.TempDir()
	p := startBinary(t, root)
	writeTree(t, root, "d/old", []byte("x"))
	trace := filepath.Join(t.TempDir(), "trace")
	strace := exec.Command(straceBin, "-f", "-qq", "-e", "trace=fsync,renameat,renameat2,linkat,openat",
		"-o", trace, "-p", fmt.Sprint(p.cmd.Process.Pid))
	if err := strace.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = strace.Process.Signal(os.Interrupt) // detaches from the server
		_ = strace.Wait()
	}()
	traced := func() bool {
		upload(t, p, "PUT", "/files/warm", []byte("w"))
		out, _ := os.ReadFile(trace)
		return bytes.Contains(out, []byte(`"warm"`))
	}
	if !pollUntil(10*time.Second, traced) {
		t.Fatal("strace did not attach to the server within 10s")
	}
	for _, name := range []string{"d/old", "d/new"} {
		if r := upload(t, p, "PUT", "/files/"+name, []byte("data")); r.status >= 300 {
			t.Fatalf("PUT %s: got %d", name, r.status)
		}
	}
	// Each publication (a linkat for the new name, a renameat for the
	// replaced one) must be followed by an openat of "d" and an fsync.
	var out []byte
	durable := func() bool {
		out, _ = os.ReadFile(trace)
		lines := strings.Split(string(out), "\n")
		for _, op := range []string{"linkat(", "renameat"} {
			i := indexOfLine(lines, 0, op, `"old"`, `"new"`)
			if i < 0 {
				return false
			}
			j := indexOfLine(lines, i+1, "openat(", `"d"`)
			if j < 0 || indexOfLine(lines, j+1, "fsync(") < 0 {
				return false
			}
		}
		return true
	}
	if !pollUntil(5*time.Second, durable) {
		t.Errorf("no fsync of the directory after each link or rename that published a file; trace:\n%s", out)
	}
}

// indexOfLine returns the first line from start on that contains op and,
// when names are given, one of them; or -1.
func indexOfLine(lines []string, start int, op string, names ...string) int {
	for i := start; i < len(lines); i++ {
		if !strings.Contains(lines[i], op) {
			continue
		}
		if len(names) == 0 {
			return i
		}
		for _, n := range names {
			if strings.Contains(lines[i], n) {
				return i
			}
		}
	}
	return -1
}

// TestIfMatchHoldsAtTheCommit: If-Match is checked again as the write is
// committed, so a write that started against version E loses to one that
// replaced E while its body was still arriving: no update is lost.
func TestIfMatchHoldsAtTheCommit(t *testing.T) {
	root := t.TempDir()
	p := startBinary(t, root)
	if r := upload(t, p, "PUT", "/files/cond", []byte("v0")); r.status != 201 {
		t.Fatalf("PUT v0: got %d", r.status)
	}
	etag := getRaw(t, p, "/files/cond").header.Get("ETag")
	slow := dialRaw(t, p)
	slow.send("PUT /files/cond HTTP/1.1\r\nHost: x\r\nIf-Match: " + etag + "\r\nContent-Length: 4\r\n\r\nA")
	if r := request(t, p, "PUT", "/files/cond", []string{"If-Match: " + etag}, "BBBB"); r.status != 204 {
		t.Fatalf("the second writer's PUT: got %d, want 204", r.status)
	}
	slow.send("AAA")
	if r := slow.mustRead(http.MethodPut); r.status != 412 {
		t.Errorf("the first writer, whose version was replaced meanwhile: got %d, want 412", r.status)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "cond")); string(got) != "BBBB" {
		t.Errorf("the file holds %q, want the second writer's \"BBBB\"", got)
	}
}

// TestPreconditionsSeeDirectories: a directory exists (with no entity
// tag) for If-Match: * and If-None-Match: *.
func TestPreconditionsSeeDirectories(t *testing.T) {
	s := newTestServer(t, nil)
	mustDo(t, os.Mkdir(filepath.Join(s.root, "emptydir"), 0o755))
	if r := s.do(t, "DELETE", "/files/emptydir", "", "If-None-Match: *"); r.status != 412 {
		t.Errorf("DELETE of a directory with If-None-Match: *: got %d, want 412", r.status)
	}
	if !fileExists(filepath.Join(s.root, "emptydir")) {
		t.Fatal("the directory was removed")
	}
	if r := s.do(t, "DELETE", "/files/emptydir", "", "If-Match: *"); r.status != 204 {
		t.Errorf("DELETE of a directory with If-Match: *: got %d, want 204", r.status)
	}
}

// TestDanglingSymlinkOnTheWayIs409: a path through a symlink that leads
// nowhere conflicts with what is on disk; it is not a server failure.
func TestDanglingSymlinkOnTheWayIs409(t *testing.T) {
	s := newTestServer(t, nil)
	mustDo(t, os.Symlink("nowhere", filepath.Join(s.root, "dldir")))
	for _, path := range []string{"/files/dldir/x", "/files/dldir/a/b"} {
		if r := s.do(t, "PUT", path, "data"); r.status != 409 {
			t.Errorf("PUT %s: got %d %q, want 409", path, r.status, r.body)
		}
	}
}

// TestAnotherInstancesUploadSurvivesTheSweep: a second server started on
// the same root leaves the first one's upload in progress alone.
func TestAnotherInstancesUploadSurvivesTheSweep(t *testing.T) {
	root := t.TempDir()
	a := startBinary(t, root)
	c := dialRaw(t, a)
	body := pattern(5, 64<<10)
	c.send(fmt.Sprintf("PUT /files/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body)) + string(body[:32<<10]))
	waitTempFiles(t, root, 1)
	b := startBinary(t, root)
	assertHealthy(t, b)
	time.Sleep(500 * time.Millisecond) // the second server's sweep runs in the background
	c.send(string(body[32<<10:]))
	if r := c.mustRead(http.MethodPut); r.status != 201 {
		t.Fatalf("the first server's upload after the second one started: got %d %q, want 201; second server:\n%s", r.status, r.body, b.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "up")); !bytes.Equal(got, body) {
		t.Errorf("the upload holds %d bytes, want the %d sent", len(got), len(body))
	}
}

// TestCutOffAtShutdownLeavesNoParents: an upload cut off by the shutdown
// timeout leaves neither its file nor the directories it created.
func TestCutOffAtShutdownLeavesNoParents(t *testing.T) {
	root := t.TempDir()
	p := startBinary(t, root, "--shutdown-timeout", "1s")
	c := startUpload(t, p, "/files/newdir/sub/f", 1<<20, pattern(6, 4<<10))
	defer c.c.Close()
	waitTempFiles(t, root, 1)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit after cutting an upload off: got %d, want 1", code)
	}
	if _, err := os.Lstat(filepath.Join(root, "newdir")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the cut-off upload left newdir behind (err %v)", err)
	}
}
