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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fault tests: timeouts, slow clients, malformed requests, Expect and a
// full or read-only disk, all against the real binary over loopback TCP.

func TestFaultTimeouts(t *testing.T) {
	// The subtests mostly sleep, so they run side by side, each against its
	// own server.
	t.Run("slow headers are cut off", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, t.TempDir(), "--read-timeout", "1s")
		c := dialRaw(t, p)
		start := time.Now()
		c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		stop := make(chan struct{})
		defer close(stop)
		go func() { // one header byte every 300 ms, never the end of the headers
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for range 40 {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if c.trySend("a") != nil {
					return
				}
			}
		}()
		data, closed := c.rest(ioTimeout)
		took := time.Since(start)
		if !closed {
			t.Fatalf("connection still open after %v of slow headers with --read-timeout 1s", took)
		}
		if took < 500*time.Millisecond || took > 3500*time.Millisecond {
			t.Errorf("cut off after %v, want about 1s (the read timeout)", took)
		}
		if len(data) > 0 && !bytes.HasPrefix(data, []byte("HTTP/1.1 408 ")) && !bytes.HasPrefix(data, []byte("HTTP/1.1 400 ")) {
			t.Errorf("got reply %q, want none, 408 or 400", firstLine(data))
		}
		assertHealthy(t, p)
	})

	// A slow but steady upload: 8 chunks of 16 KiB, one every 500 ms, 4 s
	// in all, four times the read timeout.
	const chunk, chunks = 16 << 10, 8
	for _, chunked := range []bool{false, true} {
		name := "slow steady upload with Content-Length"
		if chunked {
			name = "slow steady upload chunked"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			p := startBinary(t, root, "--read-timeout", "1s")
			want := pattern(7, chunk*chunks)
			c := dialRaw(t, p)
			start := time.Now()
			if chunked {
				c.send("PUT /files/slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			} else {
				c.send("PUT /files/slow HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(want)) + "\r\n\r\n")
			}
			for i := range chunks {
				time.Sleep(500 * time.Millisecond)
				part := string(want[i*chunk : (i+1)*chunk])
				if chunked {
					part = strconv.FormatInt(chunk, 16) + "\r\n" + part + "\r\n"
				}
				if err := c.trySend(part); err != nil {
					t.Fatalf("upload cut off after %v (chunk %d): %v", time.Since(start), i, err)
				}
			}
			if chunked {
				c.send("0\r\n\r\n")
			}
			r, err := c.read(http.MethodPut, ioTimeout)
			if err != nil {
				t.Fatalf("upload of %v: no response: %v", time.Since(start), err)
			}
			if r.status != http.StatusCreated {
				t.Fatalf("slow upload: got %d %q, want 201", r.status, r.body)
			}
			got, err := os.ReadFile(filepath.Join(root, "slow"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("stored file: got %d bytes (err %v), want the %d bytes sent", len(got), err, len(want))
			}
			if g := getRaw(t, p, "/files/slow"); g.status != 200 || !bytes.Equal(g.body, want) {
				t.Fatalf("GET after slow upload: got %d, %d bytes, want 200 and the %d bytes sent", g.status, len(g.body), len(want))
			}
		})
	}

	// A pause longer than the read timeout in the middle of a body ends the
	// upload, and leaves nothing behind.
	for _, chunked := range []bool{false, true} {
		name := "stalled upload with Content-Length is cut off"
		if chunked {
			name = "stalled chunked upload is cut off"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			p := startBinary(t, root, "--read-timeout", "1s")
			part := string(pattern(8, chunk))
			c := dialRaw(t, p)
			if chunked {
				c.send("PUT /files/stalled HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(chunk, 16) + "\r\n" + part + "\r\n")
			} else {
				c.send("PUT /files/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(4*chunk) + "\r\n\r\n" + part)
			}
			start := time.Now()
			data, closed := c.rest(ioTimeout)
			took := time.Since(start)
			if !closed {
				t.Fatalf("upload stalled for %v with --read-timeout 1s: connection still open", took)
			}
			if took < 500*time.Millisecond || took > 3500*time.Millisecond {
				t.Errorf("stalled upload cut off after %v, want about 1s (the read timeout)", took)
			}
			if len(data) > 0 && !bytes.HasPrefix(data, []byte("HTTP/1.1 408 ")) && !bytes.HasPrefix(data, []byte("HTTP/1.1 400 ")) {
				t.Errorf("got reply %q, want none, 408 or 400", firstLine(data))
			}
			// The server may still be cleaning up as the connection closes.
			if !pollUntil(3*time.Second, func() bool { return len(tempFiles(t, root)) == 0 }) {
				t.Errorf("temporary files left by the stalled upload: %v", tempFiles(t, root))
			}
			if _, err := os.Lstat(filepath.Join(root, "stalled")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stalled upload created its file (err %v), want it absent", err)
			}
			assertHealthy(t, p)
		})
	}

	t.Run("idle keep-alive connection is closed", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, t.TempDir(), "--idle-timeout", "1s")
		c := dialRaw(t, p)
		c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := c.mustRead(http.MethodGet); r.status != 200 {
			t.Fatalf("GET /healthz: got %d, want 200", r.status)
		}
		start := time.Now()
		data, closed := c.rest(ioTimeout)
		took := time.Since(start)
		if !closed {
			t.Fatalf("idle connection still open after %v with --idle-timeout 1s", took)
		}
		if len(data) > 0 {
			t.Errorf("idle connection got %q before closing, want nothing", data)
		}
		if took < 500*time.Millisecond || took > 3500*time.Millisecond {
			t.Errorf("idle connection closed after %v, want about 1s", took)
		}
	})

	t.Run("stalled download is disconnected", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		const size = 64 << 20
		writeTree(t, root, "big", pattern(3, size))
		p := startBinary(t, root, "--write-timeout", "1s")
		base := baseFDs(t, p) // before any connection
		c := dialRawWith(t, p, smallRcvBufDialer(32<<10))
		c.send("GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.ContentLength != size {
			t.Fatalf("GET /files/big: got %d with length %d, want 200 and %d", resp.StatusCode, resp.ContentLength, size)
		}
		if n, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
			t.Fatalf("reading the first MiB: got %d bytes: %v", n, err)
		}
		stalled := time.Now()
		// Stop reading. The server must give up within write-timeout (plus
		// its 2 s lingering close), and its descriptor count come back.
		if n := waitFDs(t, p, base, 12*time.Second); n > base {
			t.Fatalf("server still has %d fds (baseline %d) %v after the client stopped reading", n, base, time.Since(stalled))
		}
		took := time.Since(stalled)
		t.Logf("server let go of the stalled connection after %v", took)
		// Resuming, the client gets what was in flight, then EOF or reset:
		// never the whole file.
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := io.Copy(io.Discard, resp.Body)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("stalled download still open after the server's fds dropped: read %d more bytes then timed out", n)
		}
		if total := 1<<20 + n; total >= size {
			t.Fatalf("stalled client still received the whole file (%d bytes)", total)
		}
		if openFDs(t, p) > base {
			t.Errorf("fds above baseline %d at the end", base)
		}
		assertHealthy(t, p)
	})

	// The same for responses sent from memory (a small, cached file):
	// pipelined requests whose answers are never read.
	t.Run("stalled reader of pipelined responses is disconnected", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		writeTree(t, root, "small", pattern(4, 60<<10))
		p := startBinary(t, root, "--write-timeout", "1s", "--quiet")
		base := baseFDs(t, p)
		c := dialRawWith(t, p, smallRcvBufDialer(32<<10))
		go func() { // 64 MiB of answers asked for; the writes stop when the server stops reading
			req := strings.Repeat("GET /files/small HTTP/1.1\r\nHost: x\r\n\r\n", 64)
			for range 16 {
				if c.trySend(req) != nil {
					return
				}
			}
		}()
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if n := waitFDs(t, p, base, 12*time.Second); n > base {
			t.Fatalf("server still has %d fds (baseline %d) %v after the client stopped reading", n, base, time.Since(start))
		}
		t.Logf("server let go of the stalled connection after %v", time.Since(start))
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := io.Copy(io.Discard, c.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after the server's fds dropped (read %d bytes, then timed out)", n)
		}
		if n >= 16*64*60<<10 {
			t.Fatalf("stalled client still received all %d bytes", n)
		}
		assertHealthy(t, p)
	})

	t.Run("slow steady download completes", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		const size = 8 << 20
		want := pattern(5, size)
		writeTree(t, root, "eight", want)
		p := startBinary(t, root, "--write-timeout", "1s")
		c := dialRawWith(t, p, smallRcvBufDialer(64<<10))
		c.send("GET /files/eight HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET /files/eight: got %d, want 200", resp.StatusCode)
		}
		t.Logf("slow download took %v", readSlowly(t, c.c, resp.Body, want))
	})
}

// TestFaultHugeTimeoutsNeverFireEarly: timeouts near the largest duration
// (a deadline is now plus the timeout, which could overflow into the
// past) never cut off a keep-alive connection or a paused body early.
// Without the clamp, the idle connection was closed after half a second.
func TestFaultHugeTimeoutsNeverFireEarly(t *testing.T) {
	t.Parallel()
	const huge = "2562047h47m16s" // within a second of the largest duration
	p := startBinary(t, t.TempDir(), "--idle-timeout", huge, "--read-timeout", huge, "--write-timeout", huge, "--quiet")
	c := dialRaw(t, p)
	c.send("GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := c.mustRead("GET"); r.status != 200 {
		t.Fatalf("first GET: %d", r.status)
	}
	time.Sleep(1200 * time.Millisecond) // past the idle buffer's release (idleRelease)
	c.send("PUT /files/f HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
	time.Sleep(1200 * time.Millisecond)
	c.send("67890")
	if r := c.mustRead("PUT"); r.status != 201 {
		t.Fatalf("PUT after an idle wait and with a paused body: got %d, want 201", r.status)
	}
}

func TestFaultSlowloris(t *testing.T) {
	p := startBinary(t, t.TempDir(), "--quiet")
	const slow = 300
	conns := make([]*rawConn, 0, slow)
	for range slow {
		c := dialRaw(t, p)
		c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, c)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a header byte per second on every slow connection
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < 60; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
				if i == 0 {
					_, _ = io.WriteString(c.c, "X-Slow: ")
				} else {
					_, _ = io.WriteString(c.c, "a")
				}
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond) // let the slow clients settle in
	var lat []time.Duration
	for range 20 {
		start := time.Now()
		r := getRaw(t, p, "/healthz")
		lat = append(lat, time.Since(start))
		if r.status != 200 || string(r.body) != "ok" {
			t.Fatalf("GET /healthz during slowloris: got %d %q, want 200 \"ok\"", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-done
	slices.Sort(lat)
	t.Logf("healthz latency under %d slow connections: median %v, max %v", slow, lat[len(lat)/2], lat[len(lat)-1])
	if med := lat[len(lat)/2]; med > 200*time.Millisecond {
		t.Errorf("median /healthz latency %v under slowloris, want < 200ms", med)
	}
	if worst := lat[len(lat)-1]; worst > 2*time.Second {
		t.Errorf("slowest /healthz took %v under slowloris, want < 2s", worst)
	}
	// The slow connections are still held (30 s read timeout), not dropped
	// to make room.
	open := 0
	for _, c := range conns[:10] {
		if _, closed := c.rest(50 * time.Millisecond); !closed {
			open++
		}
	}
	if open != 10 {
		t.Errorf("%d of 10 sampled slow connections still open, want all 10 (read timeout is 30s)", open)
	}
}

// connWant says what must happen to a connection after a response.
type connWant int

const (
	mayStay connWant = iota // either; if open, the next request must be served
	mustClose
	mustStay
)

func TestFaultMalformedRequests(t *testing.T) {
	root := t.TempDir()
	p := startBinary(t, root, "--read-timeout", "1s")
	pad := func(n int) string { // n bytes of headers, in lines under 1 KiB
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			line := fmt.Sprintf("X-Pad-%03d: ", i)
			b.WriteString(line + strings.Repeat("p", min(1000, n-b.Len())-len(line)-2) + "\r\n")
		}
		return b.String()
	}
	smuggled := "GET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name   string
		raw    string
		want   []int    // acceptable statuses; nil: any
		conn   connWant // what happens to the connection afterwards
		noFile string   // a name under the root that must not exist afterwards
		check  func(t *testing.T, r *rawResp)
	}{
		{
			name: "differing duplicate Content-Length",
			raw:  "POST /files/dupcl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
			want: []int{400}, conn: mustClose, noFile: "dupcl",
		},
		{
			name: "Content-Length and Transfer-Encoding",
			raw:  "POST /files/clte HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			want: []int{400}, conn: mustClose, noFile: "clte",
		},
		{
			name: "Transfer-Encoding gzip",
			raw:  "POST /files/tegzip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello",
			want: []int{400}, conn: mustClose, noFile: "tegzip",
		},
		{
			name: "Transfer-Encoding identity",
			raw:  "POST /files/teid HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nhello",
			want: []int{400}, conn: mustClose, noFile: "teid",
		},
		{
			name: "Transfer-Encoding on HTTP/1.0",
			raw:  "POST /files/te10 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			want: []int{400}, conn: mustClose, noFile: "te10",
		},
		{
			name: "bad chunk size",
			raw:  "POST /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			want: []int{400}, conn: mustClose, noFile: "x",
		},
		{
			name: "non-numeric Content-Length",
			raw:  "POST /files/cl-abc HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nhello",
			want: []int{400}, conn: mustClose, noFile: "cl-abc",
		},
		{
			name: "space before colon",
			raw:  "GET /echo/x HTTP/1.1\r\nHost: x\r\nX-Foo : bar\r\n\r\n",
			want: []int{400}, conn: mustClose,
		},
		{
			name: "HTTP/1.1 without Host",
			raw:  "GET /echo/x HTTP/1.1\r\n\r\n",
			want: []int{400}, conn: mustClose,
		},
		{
			name: "20 KiB request line",
			raw:  "GET /echo/" + strings.Repeat("a", 20<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{414, 431, 400}, conn: mustClose,
		},
		{
			name: "17 KiB of headers",
			raw:  "GET /echo/x HTTP/1.1\r\nHost: x\r\n" + pad(17<<10) + "\r\n",
			want: []int{431}, conn: mayStay,
		},
		{
			name: "15 KiB of headers",
			raw:  "GET /echo/big HTTP/1.1\r\nHost: x\r\n" + pad(15<<10) + "\r\n",
			want: []int{200}, conn: mustStay,
			check: func(t *testing.T, r *rawResp) {
				if string(r.body) != "big" {
					t.Errorf("body: got %q, want %q", r.body, "big")
				}
			},
		},
		{
			name: "NUL in path",
			raw:  "GET /files/a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{400}, conn: mayStay,
		},
		{
			name: "NUL in path of a write",
			raw:  "PUT /files/nul%00x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
			want: []int{400}, conn: mayStay, noFile: "nul",
		},
		{
			name: "bad percent-escape in echo",
			raw:  "GET /echo/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{400}, conn: mustClose,
		},
		{
			name: "bad percent-escape in files",
			raw:  "GET /files/%G0 HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{400}, conn: mustClose,
		},
		{
			name: "absolute-form target",
			raw:  "GET http://x/echo/abs HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{200}, conn: mustStay,
			check: func(t *testing.T, r *rawResp) {
				if string(r.body) != "abs" {
					t.Errorf("body: got %q, want %q", r.body, "abs")
				}
			},
		},
		{
			// A question about the server as a whole (RFC 9110 section
			// 9.3.7): answered with what it allows, no body.
			name: "OPTIONS *",
			raw:  "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{200, 204}, conn: mustStay,
			check: func(t *testing.T, r *rawResp) {
				allow := r.header.Get("Allow")
				for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
					if !slices.Contains(strings.Split(strings.ReplaceAll(allow, " ", ""), ","), m) {
						t.Errorf("Allow %q, want a list with %s", allow, m)
					}
				}
				if len(r.body) != 0 {
					t.Errorf("body: got %q, want none", r.body)
				}
			},
		},
		{
			name: "unknown method",
			raw:  "FOO /echo/x HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []int{405, 501}, conn: mayStay,
			check: func(t *testing.T, r *rawResp) {
				if r.status == 405 && !strings.Contains(r.header.Get("Allow"), "GET") {
					t.Errorf("405 with Allow %q, want a list with GET", r.header.Get("Allow"))
				}
			},
		},
		{
			name: "body that looks like a request",
			raw:  "POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled,
			want: []int{405}, conn: mayStay,
		},
		{
			name: "unread body of a refused write",
			raw:  "PUT /files/%2e%2e/escape HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled,
			want: []int{400, 403, 404}, conn: mayStay,
		},
		{
			name: "body on GET",
			raw:  "GET /echo/g HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled,
			want: []int{200}, conn: mayStay,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, p)
			c.send(tt.raw)
			method, _, _ := strings.Cut(tt.raw, " ")
			r, err := c.read(method, ioTimeout)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			t.Logf("got %d %q, Allow %q", r.status, r.body, r.header.Get("Allow"))
			if tt.want != nil && !slices.Contains(tt.want, r.status) {
				t.Errorf("status: got %d %q, want one of %v", r.status, r.body, tt.want)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			switch tt.conn {
			case mustClose:
				data, closed := c.rest(3 * time.Second)
				if !closed {
					t.Errorf("connection still open after %d, want it closed", r.status)
				}
				if len(data) > 0 {
					t.Errorf("got more after the %d: %q, want nothing", r.status, firstLine(data))
				}
			default:
				// A keep-alive connection must read the next request as a
				// new request: nothing left over from the last one.
				if err := c.trySend("GET /echo/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					if tt.conn == mustStay {
						t.Fatalf("connection closed after %d, want it kept open: %v", r.status, err)
					}
					break
				}
				next, err := c.read(http.MethodGet, 3*time.Second)
				switch {
				case err != nil && tt.conn == mustStay:
					t.Errorf("GET /echo/next on the same connection: %v, want 200 \"next\"", err)
				case err != nil:
					if data, closed := c.rest(time.Second); !closed || len(data) > 0 {
						t.Errorf("after %v: connection neither answered nor closed (extra %q)", err, data)
					}
				case next.status != 200 || string(next.body) != "next":
					t.Errorf("GET /echo/next on the same connection: got %d %q, want 200 \"next\" (smuggled request?)", next.status, next.body)
				}
			}
			if tt.noFile != "" {
				if _, err := os.Lstat(filepath.Join(root, tt.noFile)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists after a refused request (err %v), want it absent", tt.noFile, err)
				}
			}
			assertHealthy(t, p)
		})
	}
	if strings.Contains(p.stderr.String(), "/echo/smuggled") {
		t.Errorf("access log shows a smuggled request was served:\n%s", p.stderr)
	}
	if temps := tempFiles(t, root); len(temps) > 0 {
		t.Errorf("temporary files left: %v", temps)
	}

	// Bare LF line endings: RFC 9112 section 2.2 lets a server read them as
	// CRLF. fasthttp waits for CRLF instead, so the head never ends and
	// the read timeout answers 408. Either is fine; a refusal must close
	// the connection, and nothing may crash.
	t.Run("bare LF line endings", func(t *testing.T) {
		c := dialRaw(t, p)
		start := time.Now()
		c.send("GET /echo/lf HTTP/1.1\nHost: x\n\n")
		r, err := c.read(http.MethodGet, 5*time.Second)
		took := time.Since(start)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("bare-LF request neither answered nor closed after %v (read timeout 1s)", took)
		case err != nil:
			t.Fatalf("bare-LF request: connection closed after %v without an answer (%v), want 200 \"lf\", 400 or 408", took, err)
		case took > 3*time.Second:
			t.Errorf("bare-LF request ended after %v, want about the read timeout (1s)", took)
		}
		switch r.status {
		case 200:
			if string(r.body) != "lf" {
				t.Errorf("bare-LF request served: got body %q, want %q", r.body, "lf")
			}
		case 400, 408:
			if data, closed := c.rest(3 * time.Second); !closed || len(data) > 0 {
				t.Errorf("after %d for the bare-LF request: got %q more (closed %v), want the connection closed", r.status, firstLine(data), closed)
			}
		default:
			t.Errorf("bare-LF request: got %d %q, want 200 \"lf\", 400 or 408", r.status, r.body)
		}
		assertHealthy(t, p)
	})
}

func TestFaultExpectContinue(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// expectRefused sends only the headers and wants the final status
	// before any body byte is written.
	expectRefused := func(t *testing.T, p *serverProc, headers string, want int) *rawResp {
		t.Helper()
		c := dialRaw(t, p)
		c.send("PUT /files/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + headers + "\r\n")
		r, err := c.read(http.MethodPut, 5*time.Second)
		if err != nil {
			t.Fatalf("no final status before the body: %v", err)
		}
		if r.status != want {
			t.Fatalf("got %d %q before the body, want %d", r.status, r.body, want)
		}
		if _, err := os.Lstat(filepath.Join(p.root, "e")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("file e exists after a refused write (err %v)", err)
		}
		return r
	}

	t.Run("over max-body-size", func(t *testing.T) {
		p := startBinary(t, t.TempDir(), "--max-body-size", "1KiB")
		expectRefused(t, p, "Content-Length: 4096\r\n", 413)
		assertHealthy(t, p)
	})
	t.Run("missing token", func(t *testing.T) {
		p := startBinary(t, t.TempDir(), "--token-file", tokenFile)
		r := expectRefused(t, p, "Content-Length: 5\r\n", 401)
		if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("WWW-Authenticate: got %q, want %q", got, "Bearer")
		}
		assertHealthy(t, p)
	})
	t.Run("read-only", func(t *testing.T) {
		p := startBinary(t, t.TempDir(), "--read-only")
		expectRefused(t, p, "Content-Length: 5\r\n", 403)
		assertHealthy(t, p)
	})
	t.Run("acceptable", func(t *testing.T) {
		root := t.TempDir()
		p := startBinary(t, root, "--max-body-size", "1KiB", "--token-file", tokenFile)
		c := dialRaw(t, p)
		c.send("PUT /files/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nAuthorization: Bearer s3cret\r\nContent-Length: 5\r\n\r\n")
		_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := c.br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("interim response: got %q (%v), want %q", line, err, "HTTP/1.1 100 Continue\r\n")
		}
		if blank, err := c.br.ReadString('\n'); err != nil || blank != "\r\n" {
			t.Fatalf("after 100 Continue: got %q (%v), want an empty line", blank, err)
		}
		c.send("hello")
		if r := c.mustRead(http.MethodPut); r.status != 201 {
			t.Fatalf("after the body: got %d %q, want 201", r.status, r.body)
		}
		if got, err := os.ReadFile(filepath.Join(root, "e")); err != nil || string(got) != "hello" {
			t.Fatalf("stored: got %q (%v), want %q", got, err, "hello")
		}
	})
}

func TestFaultDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	p := startBinary(t, dir)
	old := []byte("old content\n")
	if r := upload(t, p, "PUT", "/files/keep", old); r.status != 201 {
		t.Fatalf("PUT /files/keep: got %d %q, want 201", r.status, r.body)
	}
	big := pattern(11, 2<<20)
	if r := upload(t, p, "PUT", "/files/big", big); r.status != 507 {
		t.Errorf("PUT 2 MiB onto a 1 MiB disk: got %d %q, want 507", r.status, r.body)
	}
	if _, err := os.Lstat(filepath.Join(dir, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a 507 the file exists (err %v), want it absent", err)
	}
	if r := upload(t, p, "POST", "/files/keep", big); r.status != 507 {
		t.Errorf("POST 2 MiB over an existing file: got %d %q, want 507", r.status, r.body)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "keep")); err != nil || !bytes.Equal(got, old) {
		t.Errorf("replaced-too-large file holds %d bytes (err %v), want its old %d bytes", len(got), err, len(old))
	}
	if r := getRaw(t, p, "/files/keep"); r.status != 200 || !bytes.Equal(r.body, old) {
		t.Errorf("GET /files/keep after a failed replace: got %d %q, want 200 %q", r.status, r.body, old)
	}
	if temps := tempFiles(t, dir); len(temps) > 0 {
		t.Errorf("temporary files left after 507: %v", temps)
	}
	assertHealthy(t, p)
	small := []byte("fits\n")
	if r := upload(t, p, "PUT", "/files/small", small); r.status != 201 {
		t.Errorf("small PUT after the disk-full failures: got %d %q, want 201", r.status, r.body)
	}
}

func TestFaultReadOnlyDisk(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	writeTree(t, dir, "there", []byte("still here\n"))
	p := startBinary(t, dir)
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("cannot remount the tmpfs read-only (%v: %s)", err, out)
	}
	for _, tt := range []struct{ method, path string }{
		{"PUT", "/files/new"},
		{"PUT", "/files/there"},
		{"POST", "/files/sub/new"},
	} {
		r := upload(t, p, tt.method, tt.path, []byte("hello"))
		if r.status != 500 {
			t.Errorf("%s %s on a read-only disk: got %d %q, want 500", tt.method, tt.path, r.status, r.body)
		}
	}
	c := dialRaw(t, p)
	c.send("DELETE /files/there HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := c.mustRead("DELETE"); r.status != 500 {
		t.Errorf("DELETE on a read-only disk: got %d %q, want 500", r.status, r.body)
	}
	if r := getRaw(t, p, "/files/there"); r.status != 200 || string(r.body) != "still here\n" {
		t.Errorf("GET on a read-only disk: got %d %q, want 200 %q", r.status, r.body, "still here\n")
	}
	assertHealthy(t, p)
	// The reason must reach the log (the client gets only a fixed text).
	if !pollUntil(5*time.Second, func() bool { return strings.Contains(p.stderr.String(), "read-only file system") }) {
		t.Errorf("stderr does not give the reason (want it to mention %q):\n%s", "read-only file system", p.stderr)
	}
}
