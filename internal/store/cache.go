package store

import (
	"context"
	"encoding/xml"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// Files up to this size are served from memory. Opening, stat-ing and
	// closing a file costs three system calls and several allocations, more
	// than sending a small file itself; nginx hides the same cost behind
	// open_file_cache. Larger files stream with sendfile, where the open is
	// noise.
	MaxCachedFile = 64 << 10
	// The cache's memory ceiling; past it, it starts over.
	maxCacheBytes = 8 << 20
	// How long a cached file is trusted before it is compared again with
	// the backend (its ETag), for changes made behind our back. Writes
	// through the Cache invalidate at once.
	CacheRevalidate = time.Second
)

// Cache wraps a backend and keeps its small files in memory, keyed by
// name. It suits a backend only this process writes to, or whose other
// writers may be seen up to CacheRevalidate late (a directory that other
// programs also change); a store shared by several instances must not
// be cached.
//
// Consistency with our own writes: every write through the Cache bumps
// gen after the backend returns, and an entry is valid only while gen
// still has the value read before the file was opened. So once a write
// has returned, no request can be served the bytes it replaced.
//
// Open does not keep the name it is given: a hit returns at once, and a
// miss copies it. So a caller may pass a name that lives only as long as
// the call (bytes of a request, see the HTTP side) without allocating.
type Cache struct {
	Backend
	gen atomic.Uint64

	mu      sync.RWMutex
	entries map[string]*cachedFile
	size    int64 // the entries' cost, see cachedFile.cost
}

// cachedFile is an immutable snapshot of a small file; data is never
// modified once cached, so responses may reference it without a copy.
type cachedFile struct {
	name    string
	data    []byte
	info    Info
	gen     uint64
	checked atomic.Int64 // unix nanoseconds of the last comparison
}

// cachedFileOverhead estimates what an entry costs beyond its name and
// bytes: the struct, its ETag and its slot in the map. Counting it keeps
// a flood of empty files within maxCacheBytes too.
const cachedFileOverhead = 256

func (e *cachedFile) cost() int64 {
	return int64(len(e.name) + len(e.data) + cachedFileOverhead)
}

// NewCache wraps b.
func NewCache(b Backend) *Cache {
	return &Cache{Backend: b, entries: make(map[string]*cachedFile)}
}

// Open implements Backend: a small file comes from memory, with Data set.
func (c *Cache) Open(ctx context.Context, name string, rng Range) (Object, error) {
	now := time.Now()
	if e := c.lookup(ctx, name, now); e != nil {
		return Object{Info: e.info, Data: e.data}, nil
	}
	name = strings.Clone(name)
	gen := c.gen.Load()
	obj, err := c.Backend.Open(ctx, name, rng)
	if err != nil || obj.Size > MaxCachedFile || obj.Offset != 0 {
		return obj, err
	}
	data := make([]byte, obj.Size)
	_, err = io.ReadFull(obj.Body, data)
	obj.Body.Close()
	if err != nil {
		return Object{}, err
	}
	e := c.add(name, data, obj.Info, gen, now)
	return Object{Info: e.info, Data: e.data}, nil
}

// invalidate is deferred by every write.
func (c *Cache) invalidate() { c.gen.Add(1) }

// Put implements Backend.
func (c *Cache) Put(ctx context.Context, name string, body io.Reader, size int64, cond Cond) (bool, error) {
	defer c.invalidate()
	return c.Backend.Put(ctx, name, body, size, cond)
}

// Delete implements Backend.
func (c *Cache) Delete(ctx context.Context, name string, recursive bool, cond Cond) error {
	defer c.invalidate()
	return c.Backend.Delete(ctx, name, recursive, cond)
}

// Move implements Backend.
func (c *Cache) Move(ctx context.Context, src, dst string, overwrite bool) (bool, error) {
	defer c.invalidate()
	return c.Backend.Move(ctx, src, dst, overwrite)
}

// Copy implements Backend.
func (c *Cache) Copy(ctx context.Context, src, dst string, overwrite, recursive bool) (bool, error) {
	defer c.invalidate()
	return c.Backend.Copy(ctx, src, dst, overwrite, recursive)
}

// PatchProps implements Backend. Properties are not cached, but a
// backend may keep them in what makes the ETag.
func (c *Cache) PatchProps(ctx context.Context, name string, set []Prop, remove []xml.Name) error {
	defer c.invalidate()
	return c.Backend.PatchProps(ctx, name, set, remove)
}

// lookup returns the cached file named name, or nil. An entry due for
// revalidation is compared with the backend's Stat.
func (c *Cache) lookup(ctx context.Context, name string, now time.Time) *cachedFile {
	c.mu.RLock()
	e := c.entries[name]
	c.mu.RUnlock()
	if e == nil || e.gen != c.gen.Load() {
		return nil
	}
	if now.UnixNano()-e.checked.Load() > int64(CacheRevalidate) {
		info, err := c.Backend.Stat(ctx, e.name)
		if err != nil || info.ETag != e.info.ETag || info.Size != e.info.Size || !info.ModTime.Equal(e.info.ModTime) {
			c.remove(e)
			return nil
		}
		e.checked.Store(now.UnixNano())
	}
	return e
}

// add caches data as the content of name, read while the generation was
// gen.
func (c *Cache) add(name string, data []byte, info Info, gen uint64, now time.Time) *cachedFile {
	e := &cachedFile{name: name, data: data, info: info, gen: gen}
	e.checked.Store(now.UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[name]; old != nil {
		c.size -= old.cost()
	}
	if c.size+e.cost() > maxCacheBytes {
		// Starting over is cheaper than bookkeeping for an LRU, and the
		// working set of small files refills within a few requests.
		clear(c.entries)
		c.size = 0
	}
	c.entries[name] = e
	c.size += e.cost()
	return e
}

// remove drops e, unless another request has replaced it meanwhile.
func (c *Cache) remove(e *cachedFile) {
	c.mu.Lock()
	if c.entries[e.name] == e {
		c.size -= e.cost()
		delete(c.entries, e.name)
	}
	c.mu.Unlock()
}
