package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
)

// TestCacheKeyedByName: every spelling of one path shares one cache
// entry, so the backend opens the file once; 60,000 encodings of one file
// once made 60,000 entries.
func TestCacheKeyedByName(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, "abc", []byte("x"))
	counted := &countingOpens{Backend: testDir(t, dir)}
	h := newHandler(testConfig(dir), store.NewCache(counted), newAccessLog(io.Discard, true))
	srv := &fasthttp.Server{Handler: h.serve}
	spellings := []string{"abc", "%61bc", "a%62c", "ab%63", "%61%62%63", "%61%62c"}
	c := &connStub{}
	for _, sp := range spellings {
		c.serve(t, srv, "GET /files/"+sp+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if !strings.HasPrefix(c.w.String(), "HTTP/1.1 200") || !strings.HasSuffix(c.w.String(), "\r\n\r\nx") {
			t.Fatalf("GET /files/%s: got %q", sp, c.w.String())
		}
	}
	if n := counted.opens.Load(); n != 1 {
		t.Errorf("%d spellings of one path opened the file %d times, want 1", len(spellings), n)
	}
}

// countingOpens counts the files its backend opens.
type countingOpens struct {
	store.Backend
	opens atomic.Int32
}

func (c *countingOpens) Open(ctx context.Context, name string, rng store.Range) (store.Object, error) {
	c.opens.Add(1)
	return c.Backend.Open(ctx, name, rng)
}

// TestCacheSeesRewriteInPlace: a file rewritten with the same size, mtime
// and inode (a tar or reproducible-build deploy) is served anew after the
// revalidation interval, with a new ETag: the change time tells.
func TestCacheSeesRewriteInPlace(t *testing.T) {
	s := newTestServer(t, nil)
	writeTree(t, s.root, "f", []byte("old!"))
	first := s.do(t, "GET", "/files/f", "")
	name := filepath.Join(s.root, "f")
	before, err := os.Stat(name)
	mustDo(t, err)
	mustDo(t, os.WriteFile(name, []byte("new!"), 0o644))
	mustDo(t, os.Chtimes(name, time.Time{}, before.ModTime()))
	time.Sleep(store.CacheRevalidate + 100*time.Millisecond)
	second := s.do(t, "GET", "/files/f", "")
	if string(second.body) != "new!" {
		t.Errorf("after a rewrite in place and %v: got %q, want \"new!\"", store.CacheRevalidate, second.body)
	}
	if second.get("ETag") == first.get("ETag") {
		t.Errorf("the ETag %s did not change with the bytes", first.get("ETag"))
	}
	// The same holds for a file not served from memory.
	big := strings.Repeat("a", store.MaxCachedFile+1)
	writeTree(t, s.root, "big", []byte(big))
	bigFirst := s.do(t, "HEAD", "/files/big", "", "")
	before, err = os.Stat(filepath.Join(s.root, "big"))
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(s.root, "big"), []byte(strings.ToUpper(big)), 0o644))
	mustDo(t, os.Chtimes(filepath.Join(s.root, "big"), time.Time{}, before.ModTime()))
	if s.do(t, "HEAD", "/files/big", "", "").get("ETag") == bigFirst.get("ETag") {
		t.Errorf("the ETag of a large file rewritten in place did not change")
	}
}
