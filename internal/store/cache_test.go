package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCacheCountsEveryEntry: the memory ceiling counts what an entry
// costs beyond its bytes, so that empty files cannot grow the cache past
// it (they used to count as nothing).
func TestCacheCountsEveryEntry(t *testing.T) {
	c := NewCache(nil)
	now := time.Now()
	for i := range 100_000 {
		name := fmt.Sprintf("empty-%06d", i)
		c.add(name, nil, Info{}, c.gen.Load(), now)
	}
	if max := maxCacheBytes / (cachedFileOverhead + len("empty-000000")); len(c.entries) > max {
		t.Errorf("%d empty files cached, want at most %d within %d bytes", len(c.entries), max, maxCacheBytes)
	}
	if c.size > maxCacheBytes {
		t.Errorf("cache size %d, over its ceiling %d", c.size, maxCacheBytes)
	}
}

// TestCacheHoldsFilesOpen: a cached file above minOpenFile is held open
// and shared by every request at offsets of its own; a write drops it, and
// its descriptor closes once the sends still using it end (a file deleted
// while held keeps its disk space); past MaxOpen, files are sent as the
// backend gives them.
func TestCacheHoldsFilesOpen(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	contents := map[string][]byte{}
	for _, name := range []string{"a", "b", "c"} {
		data := make([]byte, minOpenFile+1+len(contents)*1000)
		rand.Read(data)
		contents[name] = data
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opens := &openCounter{Backend: d}
	c := NewCache(opens)
	c.MaxOpen = 2

	// Many readers of one file at once, each at its own offset.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			obj, err := c.Open(ctx, "a", Whole)
			if err != nil {
				t.Error(err)
				return
			}
			defer obj.Body.Close()
			if f, off := fileOf(obj.Body); f == nil || off == nil {
				t.Errorf("a: the body offers no shared file (%v, %v)", f, off)
				return
			}
			start := int64(i * 1000)
			if _, err := obj.Body.(io.Seeker).Seek(start, io.SeekCurrent); err != nil {
				t.Error(err)
				return
			}
			got, err := io.ReadAll(obj.Body)
			if err != nil || !bytes.Equal(got, contents["a"][start:]) {
				t.Errorf("a from %d: %d bytes (%v), not the file's", start, len(got), err)
			}
		})
	}
	wg.Wait()
	if n := opens.n.Load(); n > 16 || c.opened.Load() != 1 {
		t.Fatalf("16 reads of one file: %d opens, %d files held; want one held", n, c.opened.Load())
	}
	before := opens.n.Load()
	obj, err := c.Open(ctx, "a", Whole)
	if err != nil {
		t.Fatal(err)
	}
	if opens.n.Load() != before {
		t.Errorf("a held file was opened again")
	}
	held, _ := fileOf(obj.Body)

	// A write drops it; the send in progress still reads the old file to
	// its end, and the descriptor closes when it is done.
	if _, err := c.Put(ctx, "a", bytes.NewReader([]byte("new")), 3, Cond{}); err != nil {
		t.Fatal(err)
	}
	if c.opened.Load() != 0 {
		t.Errorf("after a write, %d files still held, want 0", c.opened.Load())
	}
	if got, err := io.ReadAll(obj.Body); err != nil || !bytes.Equal(got, contents["a"]) {
		t.Errorf("a send begun before the write: %d bytes (%v), want the old file whole", len(got), err)
	}
	obj.Body.Close()
	obj.Body.Close() // twice: must not give back another request's hold
	if _, err := held.Stat(); err == nil {
		t.Errorf("the dropped file is still open once its last send ended")
	}
	if obj, err := c.Open(ctx, "a", Whole); err != nil || string(obj.Data) != "new" {
		t.Errorf("after the write: %q (%v), want \"new\"", obj.Data, err)
	}

	// Past MaxOpen, the backend's own body.
	obj, err = c.Open(ctx, "b", Whole)
	if err != nil {
		t.Fatal(err)
	}
	obj.Body.Close()
	c.MaxOpen = 1
	obj, err = c.Open(ctx, "c", Whole)
	if err != nil {
		t.Fatal(err)
	}
	if f, off := fileOf(obj.Body); f == nil || off != nil {
		t.Errorf("c past MaxOpen: want the backend's own file (%v, %v)", f, off)
	}
	if got, err := io.ReadAll(obj.Body); err != nil || !bytes.Equal(got, contents["c"]) {
		t.Errorf("c: %d bytes (%v), not the file's", len(got), err)
	}
	obj.Body.Close()
	if c.opened.Load() != 1 {
		t.Errorf("%d files held, want 1", c.opened.Load())
	}
	// Close closes them.
	obj, _ = c.Open(ctx, "b", Whole)
	f, _ := fileOf(obj.Body)
	obj.Body.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err == nil {
		t.Errorf("Close left a held file open")
	}
}

// openCounter counts its backend's opens.
type openCounter struct {
	Backend
	n atomic.Int32
}

func (o *openCounter) Open(ctx context.Context, name string, rng Range) (Object, error) {
	o.n.Add(1)
	return o.Backend.Open(ctx, name, rng)
}
