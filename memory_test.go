package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// Memory tests: what one request head may cost the server, measured as
// the resident memory of the real binary with many connections open.

// maxBytesPerConn is the contract's bound for an open connection, whatever
// a head within the limits looked like.
const maxBytesPerConn = 64 << 10

// headShapes are heads of nearly 16 KiB that stay within the limits.
var headShapes = map[string]func(i int) string{
	"fields": func(int) string { // 98 fields of about 150 bytes
		var b strings.Builder
		b.WriteString("GET /healthz HTTP/1.1\r\nHost: x\r\n")
		for f := range 98 {
			fmt.Fprintf(&b, "X-Field-%02d: %s\r\n", f, strings.Repeat("v", 150))
		}
		return b.String() + "\r\n"
	},
	"uri": func(int) string {
		return "GET /healthz?" + strings.Repeat("q", 16000) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	},
	"one-header": func(int) string {
		return "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: " + strings.Repeat("u", 16000) + "\r\n\r\n"
	},
	// Each request fills a different field slot with a large value, which
	// fasthttp would keep for the connection's next requests.
	"piling": func(i int) string {
		var b strings.Builder
		b.WriteString("GET /healthz HTTP/1.1\r\nHost: x\r\n")
		for f := range 90 {
			v := "v"
			if f == i%90 {
				v = strings.Repeat("v", 14000)
			}
			fmt.Fprintf(&b, "X-F%02d: %s\r\n", f, v)
		}
		return b.String() + "\r\n"
	},
}

// TestHeadMemoryIsBounded: a head within the limits costs an open
// connection at most 64 KiB, whatever its shape, and keep-alive requests
// do not pile their heads up.
func TestHeadMemoryIsBounded(t *testing.T) {
	const conns, requestsEach = 1000, 12
	for name, head := range headShapes {
		t.Run(name, func(t *testing.T) {
			// GOGC=20: the resident size then shows what the connections
			// hold, not the garbage of their requests awaiting collection
			// (up to as much again as what is live, with the default 100).
			p := startBinaryCmd(t, t.TempDir(), func(cmd *exec.Cmd) { cmd.Env = append(cmd.Env, "GOGC=20") }, "-q")
			assertHealthy(t, p)
			before := procStatus(t, p.cmd.Process.Pid, "VmRSS") << 10
			open := make([]*rawConn, conns)
			var wg sync.WaitGroup
			for i := range open {
				wg.Go(func() {
					c := dialRaw(t, p)
					for r := range requestsEach {
						c.send(head(i + r))
						if resp := c.mustRead(http.MethodGet); resp.status != 200 {
							t.Errorf("request %d: got %d %q, want 200", r, resp.status, resp.body)
							return
						}
					}
					open[i] = c
				})
			}
			wg.Wait()
			after := procStatus(t, p.cmd.Process.Pid, "VmRSS") << 10
			perConn := (after - before) / conns
			t.Logf("%s: RSS %d KiB -> %d KiB with %d connections open: %d KiB each", name, before>>10, after>>10, conns, perConn>>10)
			if perConn > maxBytesPerConn {
				t.Errorf("%s: %d KiB per open connection, want at most %d KiB", name, perConn>>10, maxBytesPerConn>>10)
			}
			assertHealthy(t, p)
		})
	}
}

// TestTooManyHeaderFields: more than 100 fields get 431 and a closed
// connection, even when the head announces a body or Expect:
// 100-continue; the refused heads are not kept, so 2,000 of them (about
// 400 KiB each, parsed) leave the server's memory where it was.
func TestTooManyHeaderFields(t *testing.T) {
	p := startBinary(t, t.TempDir(), "-q")
	fields := strings.Repeat("a:\r\n", 3900)
	many := "GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n"
	for _, req := range []string{
		many,
		"PUT /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + fields + "\r\n",
		"PUT /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n" + fields + "\r\n",
	} {
		c := dialRaw(t, p)
		c.send(req)
		r := c.mustRead(http.MethodGet)
		if r.status != 431 {
			t.Errorf("%.40q: got %d %q, want 431", req, r.status, r.body)
		}
		if _, closed := c.rest(ioTimeout); !closed {
			t.Errorf("%.40q: the connection stayed open after 431", req)
		}
	}
	exactly := "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("a: b\r\n", maxHeaderFields-1) + "\r\n"
	c := dialRaw(t, p)
	c.send(exactly)
	if r := c.mustRead(http.MethodGet); r.status != 200 {
		t.Errorf("%d fields: got %d %q, want 200", maxHeaderFields, r.status, r.body)
	}

	before := procStatus(t, p.cmd.Process.Pid, "VmRSS") << 10
	const floods = 2000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	for range floods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c := dialRaw(t, p)
			c.send(many)
			if r := c.mustRead(http.MethodGet); r.status != 431 {
				t.Errorf("got %d, want 431", r.status)
			}
		})
	}
	wg.Wait()
	after := procStatus(t, p.cmd.Process.Pid, "VmRSS") << 10
	t.Logf("RSS %d KiB -> %d KiB after %d heads of 3,900 fields", before>>10, after>>10, floods)
	// The read that brings the 101st field fails before fasthttp parses
	// the head (see conn.headRead): about 14 MiB here, where parsing every
	// field before refusing the head took 60 to 65.
	if grown := after - before; grown > 24<<20 {
		t.Errorf("RSS grew by %d MiB after %d refused heads, want under 24 MiB", grown>>20, floods)
	}
	assertHealthy(t, p)
}

// TestIdleKeepAliveConnectionsAreCheap: a keep-alive connection waiting
// for its next request gives back its read buffer (see conn.read). 2,000
// of them, each after one small request, cost under 11.5 KiB each (9.5
// to 10 KiB here: a 4 KiB goroutine stack, fasthttp's request context,
// our conn; 13.5 KiB while the buffer's page stayed), and each still
// serves its next request.
func TestIdleKeepAliveConnectionsAreCheap(t *testing.T) {
	p := startBinary(t, t.TempDir(), "-q")
	before := procStatus(t, p.cmd.Process.Pid, "VmRSS") << 10
	const n = 2000
	conns := make([]*rawConn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", p.addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rc := &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 4096)}
		rc.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := rc.mustRead(http.MethodGet); r.status != 200 {
			t.Fatalf("got %d, want 200", r.status)
		}
		conns = append(conns, rc)
	}
	time.Sleep(3 * idleRelease)
	after := procStatus(t, p.cmd.Process.Pid, "VmRSS") << 10
	perConn := (after - before) / n
	t.Logf("RSS %d KiB -> %d KiB with %d idle connections: %d bytes each", before>>10, after>>10, n, perConn)
	if perConn > 11<<10+512 {
		t.Errorf("an idle keep-alive connection costs %d bytes, want under 11.5 KiB", perConn)
	}
	for _, c := range conns[:20] {
		c.send("GET /echo/again HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := c.mustRead(http.MethodGet); r.status != 200 || string(r.body) != "again" {
			t.Fatalf("the next request on an idle connection: got %d %q, want 200 \"again\"", r.status, r.body)
		}
	}
}

// TestConnIsSmall: every open connection, idle ones included, holds a
// conn. It fits in the 256-byte allocation class (it took 512, 2.2 MiB
// more for 10,000 idle connections); a field that pushes it past needs a
// field taken out.
func TestConnIsSmall(t *testing.T) {
	if size := unsafe.Sizeof(conn{}); size > 256 {
		t.Errorf("conn is %d bytes, over 256", size)
	}
}
