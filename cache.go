package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
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
	// the disk (size, mtime, inode), for changes made behind our back.
	// Writes through httpbox invalidate at once (see fileCache.invalidate).
	cacheRevalidate = time.Second
)

// fileCache keeps small files in memory, keyed by the raw request path.
//
// Consistency with our own writes: every write or delete bumps gen after
// it has changed the disk, and an entry is valid only while gen still has
// the value read before the file was opened. So once a write has returned,
// no request can be served the bytes it replaced.
type fileCache struct {
	gen atomic.Uint64

	mu      sync.RWMutex
	entries map[string]*cachedFile
	size    int64
}

// cachedFile is an immutable snapshot of a small file; data is never
// modified once cached, so responses may reference it without a copy.
type cachedFile struct {
	name         string
	data         []byte
	info         fileInfo
	etag         []byte
	lastModified []byte
	gen          uint64
	checked      atomic.Int64 // unix nanoseconds of the last disk comparison
}

func newFileCache() *fileCache {
	return &fileCache{entries: make(map[string]*cachedFile)}
}

// generation is read before a file is opened; see fileCache.
func (c *fileCache) generation() uint64 { return c.gen.Load() }

// invalidate is called after every write or delete through httpbox.
func (c *fileCache) invalidate() { c.gen.Add(1) }

// lookup returns the cached file for raw, or nil. stat compares an entry
// that is due for revalidation with the disk.
func (c *fileCache) lookup(raw []byte, now time.Time, stat func(name string) (fileInfo, error)) *cachedFile {
	c.mu.RLock()
	e := c.entries[string(raw)]
	c.mu.RUnlock()
	if e == nil || e.gen != c.gen.Load() {
		return nil
	}
	if now.UnixNano()-e.checked.Load() > int64(cacheRevalidate) {
		info, err := stat(e.name)
		if err != nil || info != e.info {
			c.remove(raw)
			return nil
		}
		e.checked.Store(now.UnixNano())
	}
	return e
}

// add caches data as the content of raw (resolved to name), read while the
// generation was gen.
func (c *fileCache) add(raw, name string, data []byte, info fileInfo, gen uint64, now time.Time) *cachedFile {
	e := &cachedFile{
		name:         name,
		data:         data,
		info:         info,
		etag:         info.appendETag(nil),
		lastModified: fasthttp.AppendHTTPDate(nil, info.modTime),
		gen:          gen,
	}
	e.checked.Store(now.UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[raw]; old != nil {
		c.size -= int64(len(old.data))
	}
	if c.size+int64(len(data)) > maxCacheBytes {
		// Starting over is cheaper than bookkeeping for an LRU, and the
		// working set of small files refills within a few requests.
		clear(c.entries)
		c.size = 0
	}
	c.entries[raw] = e
	c.size += int64(len(data))
	return e
}

func (c *fileCache) remove(raw []byte) {
	c.mu.Lock()
	if e := c.entries[string(raw)]; e != nil {
		c.size -= int64(len(e.data))
		delete(c.entries, string(raw))
	}
	c.mu.Unlock()
}
