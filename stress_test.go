package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"github.com/httpbox/httpbox/internal/s3test"
	"github.com/httpbox/httpbox/internal/store"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stress tests: concurrent writers and readers, dropped connections, a file
// over 1 GiB and a mixed soak, against the real binary over loopback TCP.

var soakDuration = flag.Duration("soak", 20*time.Second, "how long TestStressSoak runs its mixed load")

func TestStressConcurrentWriters(t *testing.T) {
	// 256 KiB bodies are streamed from disk; 48 KiB ones are small enough
	// for the server's in-memory file cache.
	for _, size := range []int{256 << 10, 48 << 10} {
		t.Run(strconv.Itoa(size>>10)+"KiB", func(t *testing.T) { testConcurrentWriters(t, size) })
	}
}

func testConcurrentWriters(t *testing.T, size int) {
	root := t.TempDir()
	p := startBinary(t, root, "--quiet")
	base := baseFDs(t, p)
	client, tr := newClient(t, 30*time.Second)

	const writers, readers, rounds = 8, 4, 400
	bodies := make([][]byte, writers)
	owner := make(map[[32]byte]int, writers)
	for i := range bodies {
		bodies[i] = pattern(uint64(100+i), size)
		owner[sha256.Sum256(bodies[i])] = i
	}
	url := p.url("/files/shared/target")

	var (
		wrote     atomic.Bool  // some write has completed: no more 404s
		reads     atomic.Int64 // 200 reads checked
		tempsSeen atomic.Int64
		errMu     sync.Mutex
		errs      []string
	)
	fail := func(format string, args ...any) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	stop := time.Now().Add(3 * time.Second) // rounds bound it too, on a slow machine

	var wg, bg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds && time.Now().Before(stop); i++ {
				method := http.MethodPut
				if (w+i)%2 == 1 {
					method = http.MethodPost
				}
				status, _, body, err := doHTTP(client, method, url, bodies[w])
				switch {
				case err != nil:
					fail("writer %d: %s: %v", w, method, err)
					return
				case method == http.MethodPost && status != 201,
					method == http.MethodPut && status != 201 && status != 204:
					fail("writer %d: %s: got %d %q, want 201 or 204", w, method, status, body)
				default:
					wrote.Store(true)
				}
			}
		}()
	}
	done := make(chan struct{})
	for r := range readers {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				settled := wrote.Load()
				status, h, body, err := doHTTP(client, http.MethodGet, url, nil)
				switch {
				case err != nil:
					fail("reader %d: %v", r, err)
					return
				case status == 404 && !settled:
				case status != 200:
					fail("reader %d: got %d %q, want 200", r, status, body)
				default:
					reads.Add(1)
					if _, ok := owner[sha256.Sum256(body)]; !ok {
						fail("reader %d: got %d bytes (Content-Length %s) that are no writer's body: a mix or a partial file", r, len(body), h.Get("Content-Length"))
					}
				}
			}
		}()
	}
	// Temporary files come and go beside the target; none may ever be served.
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ents, _ := os.ReadDir(filepath.Join(root, "shared"))
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), store.TempPrefix) {
					continue
				}
				tempsSeen.Add(1)
				status, _, body, err := doHTTP(client, http.MethodGet, p.url("/files/shared/"+e.Name()), nil)
				if err == nil && status == 200 {
					fail("GET of temporary file %s: got 200 with %d bytes, want a refusal", e.Name(), len(body))
				}
			}
		}
	}()
	wg.Wait()
	close(done)
	bg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	t.Logf("%d checked reads, %d temporary files seen and refused", reads.Load(), tempsSeen.Load())
	if reads.Load() == 0 {
		t.Error("no read returned 200: the test proved nothing")
	}

	status, _, final, err := doHTTP(client, http.MethodGet, url, nil)
	if err != nil || status != 200 {
		t.Fatalf("final GET: got %d (%v), want 200", status, err)
	}
	if _, ok := owner[sha256.Sum256(final)]; !ok {
		t.Errorf("final GET: %d bytes that are no writer's body", len(final))
	}
	onDisk, err := os.ReadFile(filepath.Join(root, "shared", "target"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := owner[sha256.Sum256(onDisk)]; !ok {
		t.Errorf("final file: %d bytes that are no writer's body", len(onDisk))
	}
	if temps := tempFiles(t, root); len(temps) > 0 {
		t.Errorf("temporary files left: %v", temps)
	}
	tr.CloseIdleConnections()
	if n := waitFDs(t, p, base, 8*time.Second); n > base {
		t.Errorf("server has %d open fds after the run, want its baseline %d", n, base)
	}
}

func TestStressDroppedConnections(t *testing.T) {
	root := t.TempDir()
	p := startBinary(t, root, "--quiet")
	base := baseFDs(t, p)

	// Each kind stops half-way through a request, then goes away with a FIN
	// or (SO_LINGER 0) a reset.
	kinds := []struct {
		head string
		rst  bool
	}{
		{"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Ag", false},
		{"PUT /files/drop/%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("b", 500), false},
		{"GET /echo/half HTTP/1.1\r\nHo", true},
		{"POST /files/drop/%d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + strings.Repeat("c", 500), true},
	}
	const total, workers = 1000, 25
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				k := kinds[i%len(kinds)]
				c, err := net.DialTimeout("tcp", p.addr, ioTimeout)
				if err != nil {
					errc <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				head := k.head
				if strings.Contains(head, "%d") {
					head = fmt.Sprintf(head, i)
				}
				_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
				_, err = io.WriteString(c, head)
				if k.rst {
					_ = c.(*net.TCPConn).SetLinger(0)
				}
				c.Close()
				if err != nil {
					errc <- fmt.Errorf("connection %d: write: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	// The server accepts in order: once this is answered, every dropped
	// connection has been accepted, and only closing them is left.
	assertHealthy(t, p)
	if n := waitFDs(t, p, base, 8*time.Second); n > base {
		t.Errorf("server has %d open fds 8s after %d dropped connections, want its baseline %d", n, total, base)
	}
	// Half a body is no body: no upload may have become a file.
	var files []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("%d files after uploads cut off half-way, want none; first: %v", len(files), files[0])
	}
	assertHealthy(t, p)
}

// TestStressLargeFile: a 1 GiB upload and download stream on every
// backend: the server's peak RSS grows by less than 32 MiB on a directory,
// and less than 64 MiB on S3, whose parts are held in memory (the
// contract's bound is part size × concurrency).
func TestStressLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads and downloads 1 GiB + 1 MiB per backend; skipped with -short")
	}
	srv := s3test.Start(t)
	// The default limit is 1 GiB; this body is 1 MiB more.
	args := []string{"--quiet", "--max-body-size", "2GiB"}
	t.Run("dir", func(t *testing.T) { largeFileRoundTrip(t, startBinary(t, t.TempDir(), args...), 32<<10) })
	t.Run("s3", func(t *testing.T) {
		largeFileRoundTrip(t, startOnS3(t, srv, "s3://"+srv.NewBucket(t), args...), 64<<10)
	})
}

// largeFileRoundTrip uploads and downloads 1 GiB + 1 MiB through p, and
// checks the bytes and that the peak RSS grew by less than maxGrowthKB.
func largeFileRoundTrip(t *testing.T, p *serverProc, maxGrowthKB int64) {
	const size = 1<<30 + 1<<20
	pid := p.cmd.Process.Pid
	assertHealthy(t, p)
	hwm0 := procStatus(t, pid, "VmHWM")
	client, _ := newClient(t, 5*time.Minute)

	start := time.Now()
	sent := sha256.New()
	req, err := http.NewRequest(http.MethodPut, p.url("/files/big/file"), io.TeeReader(newBlockReader(size), sent))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("PUT of %d bytes: %v", int64(size), err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("PUT of %d bytes: got %d %q, want 201", int64(size), resp.StatusCode, msg)
	}
	up := time.Since(start)

	start = time.Now()
	resp, err = client.Get(p.url("/files/big/file"))
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != size {
		t.Fatalf("GET: got %d with %d bytes (%v), want 200 with %d", resp.StatusCode, n, err, int64(size))
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("downloaded bytes differ from the uploaded ones (same length, different SHA-256)")
	}
	down := time.Since(start)

	hwm1 := procStatus(t, pid, "VmHWM")
	t.Logf("upload %v, download %v; server VmHWM %d kB after start-up, %d kB after (+%d kB)", up, down, hwm0, hwm1, hwm1-hwm0)
	if grew := hwm1 - hwm0; grew >= maxGrowthKB {
		t.Errorf("server VmHWM grew by %d kB for a %d-byte upload and download, want < %d kB (bodies must stream)", grew, int64(size), maxGrowthKB)
	}
}

// TestStressHeadEmptyFile pins down what the soak found: HEAD of an empty
// file must carry GET's Content-Length: 0.
func TestStressHeadEmptyFile(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, "empty", nil)
	p := startBinary(t, root, "--quiet")
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		c := dialRaw(t, p)
		c.send(method + " /files/empty HTTP/1.1\r\nHost: x\r\n\r\n")
		r := c.mustRead(method)
		if r.status != 200 || r.header.Get("Content-Length") != "0" {
			t.Errorf("%s /files/empty: got %d with Content-Length %q, want 200 with \"0\"", method, r.status, r.header.Get("Content-Length"))
		}
	}
}

// soakSlot is the model of one path: what the store must hold there.
type soakSlot struct {
	mu     sync.Mutex
	path   string
	exists bool
	body   []byte
}

func TestStressSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("mixed load for -soak (default 20s); skipped with -short")
	}
	root := t.TempDir()
	p := startBinary(t, root, "--quiet")
	pid := p.cmd.Process.Pid
	assertHealthy(t, p)
	rss0 := procStatus(t, pid, "VmRSS")
	client, tr := newClient(t, 30*time.Second)

	// 1,000 files three directories deep, 10 to a directory.
	slots := make([]*soakSlot, 1000)
	for i := range slots {
		slots[i] = &soakSlot{path: fmt.Sprintf("soak/d%d/e%d/f%03d", i%10, i/10%10, i)}
	}
	// Bodies are slices of one random pool: cheap to make, and two
	// versions of a file almost never share their bytes.
	pool := pattern(9, 128<<10)

	var (
		ops, mismatches atomic.Int64
		errMu           sync.Mutex
		errs            []string
	)
	mismatch := func(format string, args ...any) {
		mismatches.Add(1)
		errMu.Lock()
		defer errMu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	stop := time.Now().Add(*soakDuration)
	const workers = 6
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 77))
			for time.Now().Before(stop) {
				s := slots[rng.IntN(len(slots))]
				s.mu.Lock()
				soakOp(client, p, s, rng, pool, mismatch)
				s.mu.Unlock()
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	t.Logf("%d operations in %v, %d mismatches", ops.Load(), *soakDuration, mismatches.Load())
	if mismatches.Load() > 0 {
		t.Errorf("%d responses did not match the model", mismatches.Load())
	}

	// The disk must hold exactly the model.
	for _, s := range slots {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(s.path)))
		switch {
		case s.exists && err != nil:
			t.Errorf("%s: %v, want %d bytes", s.path, err, len(s.body))
		case s.exists && !bytes.Equal(b, s.body):
			t.Errorf("%s: %d bytes on disk, not the %d last written", s.path, len(b), len(s.body))
		case !s.exists && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s: deleted, but on disk (%d bytes, err %v)", s.path, len(b), err)
		}
	}
	if temps := tempFiles(t, root); len(temps) > 0 {
		t.Errorf("temporary files left: %v", temps)
	}

	tr.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	rss1 := procStatus(t, pid, "VmRSS")
	t.Logf("server VmRSS %d kB at start, %d kB after the soak", rss0, rss1)
	if rss1 > rss0+64<<10 {
		t.Errorf("server VmRSS %d kB after the soak, want < start %d kB + 64 MiB", rss1, rss0)
	}
	assertHealthy(t, p)
}

// soakOp does one random operation on s (locked by the caller), checks the
// answer against the model and updates it.
func soakOp(client *http.Client, p *serverProc, s *soakSlot, rng *rand.Rand, pool []byte, mismatch func(string, ...any)) {
	url := p.url("/files/" + s.path)
	switch op := rng.IntN(100); {
	case op < 35: // GET
		status, h, body, err := doHTTP(client, http.MethodGet, url, nil)
		switch {
		case err != nil:
			mismatch("GET %s: %v", s.path, err)
		case s.exists && (status != 200 || !bytes.Equal(body, s.body)):
			mismatch("GET %s: got %d with %d bytes, want 200 with the %d bytes last written", s.path, status, len(body), len(s.body))
		case s.exists && h.Get("Content-Length") != strconv.Itoa(len(s.body)):
			mismatch("GET %s: Content-Length %q, want %d", s.path, h.Get("Content-Length"), len(s.body))
		case !s.exists && status != 404:
			mismatch("GET %s: got %d with %d bytes, want 404 (deleted or never written)", s.path, status, len(body))
		}
	case op < 45: // HEAD
		status, h, body, err := doHTTP(client, http.MethodHead, url, nil)
		switch {
		case err != nil:
			mismatch("HEAD %s: %v", s.path, err)
		case len(body) > 0:
			mismatch("HEAD %s: got a %d-byte body", s.path, len(body))
		case s.exists && (status != 200 || h.Get("Content-Length") != strconv.Itoa(len(s.body))):
			mismatch("HEAD %s: got %d with Content-Length %q, want 200 with %d", s.path, status, h.Get("Content-Length"), len(s.body))
		case !s.exists && status != 404:
			mismatch("HEAD %s: got %d, want 404", s.path, status)
		}
	case op < 85: // PUT or POST
		method := http.MethodPut
		if op >= 70 {
			method = http.MethodPost
		}
		n := rng.IntN(2 << 10)
		if rng.IntN(4) == 0 {
			n = rng.IntN(96 << 10) // past the server's 64 KiB cache limit at times
		}
		off := rng.IntN(len(pool) - n + 1)
		body := pool[off : off+n]
		want := 201
		if method == http.MethodPut && s.exists {
			want = 204
		}
		status, h, msg, err := doHTTP(client, method, url, body)
		switch {
		case err != nil:
			mismatch("%s %s: %v", method, s.path, err)
			return
		case status != want:
			mismatch("%s %s (exists %v): got %d %q, want %d", method, s.path, s.exists, status, msg, want)
		case status == 201 && h.Get("Location") != "/files/"+s.path:
			mismatch("%s %s: Location %q, want %q", method, s.path, h.Get("Location"), "/files/"+s.path)
		}
		if status >= 200 && status < 300 {
			s.exists, s.body = true, body
		}
	default: // DELETE
		status, _, msg, err := doHTTP(client, http.MethodDelete, url, nil)
		want := 404
		if s.exists {
			want = 204
		}
		switch {
		case err != nil:
			mismatch("DELETE %s: %v", s.path, err)
			return
		case status != want:
			mismatch("DELETE %s (exists %v): got %d %q, want %d", s.path, s.exists, status, msg, want)
		}
		if status == 204 {
			s.exists, s.body = false, nil
		}
	}
}
