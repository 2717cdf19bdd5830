package main

import (
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
	maxCachedFile = 64 << 10
	// The cache's memory ceiling; past it, it starts over.
	maxCacheBytes = 8 << 20
	// How long a cached file is trusted before it is compared again with
	// the disk (size, mtime, ctime, inode), for changes made behind our back.
	// Writes through httpbox invalidate at once (see fileCache.invalidate).
	cacheRevalidate = time.Second
)

// fileCache keeps small files in memory, keyed by their resolved name, so
// that the spellings of one path (abc, %61bc, ...) share one entry.
//
// Consistency with our own writes: every write or delete bumps gen after
// it has changed the disk, and an entry is valid only while gen still has
// the value read before the file was opened. So once a write has returned,
// no request can be served the bytes it replaced.
type fileCache struct {
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
	info    fileInfo
	etag    []byte
	gen     uint64
	checked atomic.Int64 // unix nanoseconds of the last disk comparison
}

// cachedFileOverhead estimates what an entry costs beyond its name and
// bytes: the struct, its ETag and its slot in the map. Counting it keeps
// a flood of empty files within maxCacheBytes too.
const cachedFileOverhead = 256

func (e *cachedFile) cost() int64 {
	return int64(len(e.name) + len(e.data) + cachedFileOverhead)
}

func newFileCache() *fileCache {
	return &fileCache{entries: make(map[string]*cachedFile)}
}

// generation is read before a file is opened; see fileCache.
func (c *fileCache) generation() uint64 { return c.gen.Load() }

// invalidate is called after every write or delete through httpbox.
func (c *fileCache) invalidate() { c.gen.Add(1) }

// lookup returns the cached file named name, or nil. stat compares an
// entry that is due for revalidation with the disk: size, modification
// and change time, inode.
func (c *fileCache) lookup(name []byte, now time.Time, stat func(name string) (fileInfo, error)) *cachedFile {
	c.mu.RLock()
	e := c.entries[string(name)]
	c.mu.RUnlock()
	if e == nil || e.gen != c.gen.Load() {
		return nil
	}
	if now.UnixNano()-e.checked.Load() > int64(cacheRevalidate) {
		info, err := stat(e.name)
		if err != nil || info != e.info {
			c.remove(e)
			return nil
		}
		e.checked.Store(now.UnixNano())
	}
	return e
}

// add caches data as the content of name, read while the generation was
// gen.
func (c *fileCache) add(name string, data []byte, info fileInfo, gen uint64, now time.Time) *cachedFile {
	e := &cachedFile{name: name, data: data, info: info, etag: info.appendETag(nil), gen: gen}
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
func (c *fileCache) remove(e *cachedFile) {
	c.mu.Lock()
	if c.entries[e.name] == e {
		c.size -= e.cost()
		delete(c.entries, e.name)
	}
	c.mu.Unlock()
}
