package main

import (
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The access log tells the truth about each request: its duration runs
// from its first byte to its answer's last, and its byte count is what
// was sent (see handler.finish).

// logLine waits for the access line of method and target and returns its
// status, bytes and duration.
func logLine(t *testing.T, p *serverProc, method, target string) (status int, bytes int64, took time.Duration) {
	t.Helper()
	var fields []string
	found := pollUntil(5*time.Second, func() bool {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			f := strings.Fields(line)
			if len(f) == 7 && f[2] == method && f[3] == target {
				fields = f
				return true
			}
		}
		return false
	})
	if !found {
		t.Fatalf("no access line for %s %s; stderr:\n%s", method, target, p.stderr)
	}
	status, _ = strconv.Atoi(fields[4])
	bytes, _ = strconv.ParseInt(fields[5], 10, 64)
	ms, _ := strconv.ParseFloat(strings.TrimSuffix(fields[6], "ms"), 64)
	return status, bytes, time.Duration(ms * float64(time.Millisecond))
}

// TestLogExcludesIdleTime: a request refused before the handler (Expect)
// on a keep-alive connection is timed from its own first byte, not from
// the previous request's.
func TestLogExcludesIdleTime(t *testing.T) {
	const idle = 1500 * time.Millisecond
	p := startBinaryCmd(t, t.TempDir(), nil, "--read-only")
	c := dialRaw(t, p)
	c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	c.mustRead(http.MethodGet)
	time.Sleep(idle)
	c.send("PUT /files/refused HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if r := c.mustRead(http.MethodPut); r.status != 403 {
		t.Fatalf("PUT on a read-only server: got %d, want 403", r.status)
	}
	if _, _, took := logLine(t, p, "PUT", "/files/refused"); took >= idle {
		t.Errorf("the refused request is logged as taking %v: the idle time before it (%v) counted", took, idle)
	}
}

// TestLogCountsWhatWasSent: a download the client abandons logs the bytes
// that went out, not the file's size; a slow download is timed to its
// last byte, not to the end of the handler.
func TestLogCountsWhatWasSent(t *testing.T) {
	root := t.TempDir()
	const size = 16 << 20
	writeTree(t, root, "big", pattern(9, size))
	p := startBinary(t, root)

	c := dialRawWith(t, p, smallRcvBufDialer(4<<10))
	c.send("GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 64<<10)
	if _, err := c.br.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.c.(interface{ SetLinger(int) error }).SetLinger(0) //nolint:errcheck // a reset, as a client that gives up
	c.c.Close()
	if _, sent, _ := logLine(t, p, "GET", "/files/big"); sent >= size {
		t.Errorf("an abandoned download logged %d bytes, the whole file; want what was sent", sent)
	}

	const pause = 200 * time.Millisecond
	slow := dialRawWith(t, p, smallRcvBufDialer(64<<10))
	slow.send("GET /files/big?slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	start := time.Now()
	got := 0
	for {
		_ = slow.c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := slow.br.Read(buf)
		got += n
		if err != nil {
			break
		}
		if got < 4<<20 && time.Since(start) < 10*pause {
			time.Sleep(pause / 10)
		}
	}
	readFor := time.Since(start)
	status, sent, took := logLine(t, p, "GET", "/files/big?slow")
	if status != 200 || sent != size {
		t.Errorf("a complete download logged %d and %d bytes, want 200 and %d", status, sent, size)
	}
	if readFor > 5*pause && took < pause {
		t.Errorf("a download the client took %v to read is logged as taking %v", readFor.Round(time.Millisecond), took)
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}
