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
	d, root := tempDir(t)
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
			if f, off := FileOf(obj.Body); f == nil || off == nil {
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
	if n := opens.n.Load(); n > 16 || c.held() != 1 {
		t.Fatalf("16 reads of one file: %d opens, %d files held; want one held", n, c.held())
	}
	before := opens.n.Load()
	obj, err := c.Open(ctx, "a", Whole)
	if err != nil {
		t.Fatal(err)
	}
	if opens.n.Load() != before {
		t.Errorf("a held file was opened again")
	}
	held, _ := FileOf(obj.Body)

	// A write drops it; the send in progress still reads the old file to
	// its end, and the descriptor closes when it is done.
	if _, err := c.Put(ctx, "a", bytes.NewReader([]byte("new")), 3, Cond{}); err != nil {
		t.Fatal(err)
	}
	if c.held() != 0 {
		t.Errorf("after a write, %d files still held, want 0", c.held())
	}
	if got, err := io.ReadAll(obj.Body); err != nil || !bytes.Equal(got, contents["a"]) {
		t.Errorf("a send begun before the write: %d bytes (%v), want the old file whole", len(got), err)
	}
	obj.Body.Close()
	obj.Body.Close() // at once again: must not give back a hold twice
	if _, err := held.Stat(); err == nil {
		t.Errorf("the dropped file is still open once its last send ended")
	}
	if obj, err := c.Open(ctx, "a", Whole); err != nil || string(obj.Data) != "new" {
		t.Errorf("after the write: %q (%v), want \"new\"", obj.Data, err)
	}

	// Past MaxOpen, in memory.
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
	if obj.Body != nil || !bytes.Equal(obj.Data, contents["c"]) {
		t.Errorf("c past MaxOpen: got body %v and %d bytes in memory, want the file in memory", obj.Body, len(obj.Data))
	}
	if c.held() != 1 {
		t.Errorf("%d files held, want 1", c.held())
	}
	// Close closes them.
	obj, _ = c.Open(ctx, "b", Whole)
	f, _ := FileOf(obj.Body)
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

// TestCacheHeldFileRewrittenInPlace: a held file that another program
// rewrites in place (same inode) is never sent under the headers of what
// it was: the next Open sees the change and describes the file anew.
func TestCacheHeldFileRewrittenInPlace(t *testing.T) {
	d, root := tempDir(t)
	ctx := context.Background()
	c := NewCache(d)
	c.MaxOpen = 4
	name := filepath.Join(root, "f")
	old := bytes.Repeat([]byte("o"), minOpenFile+100) // each version is held, none in memory
	if err := os.WriteFile(name, old, 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() (Object, []byte) {
		t.Helper()
		obj, err := c.Open(ctx, "f", Whole)
		if err != nil {
			t.Fatal(err)
		}
		if obj.Body == nil { // small enough for memory
			return obj, obj.Data
		}
		defer obj.Body.Close()
		body, err := io.ReadAll(io.LimitReader(obj.Body, obj.Size))
		if err != nil {
			t.Fatal(err)
		}
		return obj, body
	}
	first, _ := open()
	if c.held() != 1 {
		t.Fatalf("%d files held, want 1", c.held())
	}
	for _, rewrite := range []struct {
		what string
		data []byte
	}{
		{"same size", bytes.Repeat([]byte("n"), len(old))},
		{"shorter", bytes.Repeat([]byte("s"), minOpenFile+10)},
		{"longer", bytes.Repeat([]byte("l"), len(old)+5000)},
	} {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(rewrite.data); err != nil {
			t.Fatal(err)
		}
		f.Close()
		obj, body := open()
		if obj.Size != int64(len(rewrite.data)) || !bytes.Equal(body, rewrite.data) || obj.ETag == first.ETag {
			t.Errorf("rewritten in place, %s: size %d, %d bytes, ETag %s (first %s); want %d bytes, the new ones, a new ETag",
				rewrite.what, obj.Size, len(body), obj.ETag, first.ETag, len(rewrite.data))
		}
		first = obj
	}
}
