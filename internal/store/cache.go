package store

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
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
	// Cached files larger than this are held open rather than read into
	// memory, when the backend gives them as files and the cache may hold
	// one more (MaxOpen): they go out with sendfile from the page cache,
	// where a body in memory is copied into the socket, a quarter of the
	// CPU a 64 KiB file costs. Smaller ones cost less to copy than to
	// splice, and go out in one write with their head.
	minOpenFile = 16 << 10
	// The cache's memory ceiling; past it, it starts over.
	maxCacheBytes = 8 << 20
	// How long a cached file is trusted before it is compared again with
	// the backend (its ETag), for changes made behind our back. Writes
	// through the Cache invalidate at once.
	CacheRevalidate = time.Second
)

// Cache wraps a backend and keeps its small files in memory, or held
// open (see minOpenFile), keyed by name. It suits a backend only this
// process writes to, or whose other writers may be seen up to
// CacheRevalidate late (a directory that other programs also change); a
// store shared by several instances must not be cached.
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

	// MaxOpen is how many files the cache may hold open (see
	// minOpenFile); 0 holds none. Set it before the first Open.
	MaxOpen int

	mu      sync.RWMutex
	entries map[string]*cachedFile
	size    int64         // the entries' cost, see cachedFile.cost
	open    []*cachedFile // the entries holding a file, see cachedFile.slot
}

// cachedFile is a cached file: in memory, an immutable snapshot that
// responses may reference without a copy, or held open, compared with
// the file it was opened as before each use (see share).
type cachedFile struct {
	name    string
	data    []byte
	info    Info
	gen     uint64
	checked atomic.Int64 // unix nanoseconds of the last comparison
	// file, instead of data, for a file held open (see minOpenFile), fd
	// its descriptor and stamp what it was when opened. refs counts its
	// holds: the cache's while the entry is cached, and one per body being
	// sent, so that a file dropped mid-send finishes it and closes after.
	// slot is the entry's index in Cache.open.
	file  *os.File
	fd    int
	stamp fileStamp
	refs  atomic.Int32
	slot  int
}

// fileStamp is what an open file's ETag is made of (see etag): size,
// modification and change times, inode. Any write changes one of them.
type fileStamp struct {
	size, mtime, ctime int64 // times in Unix nanoseconds
	ino                uint64
}

// hold takes a hold on the entry's file, false once it is closed.
func (e *cachedFile) hold() bool {
	for {
		n := e.refs.Load()
		if n == 0 {
			return false
		}
		if e.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives a hold back; the last closes the file.
func (e *cachedFile) release() {
	if e.refs.Add(-1) == 0 {
		e.file.Close()
	}
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

// Open implements Backend: a small file comes from memory, with Data set,
// or from a file held open, with a Body that reads it at offsets of its
// own (see sharedFile).
func (c *Cache) Open(ctx context.Context, name string, rng Range) (Object, error) {
	now := time.Now()
	if e := c.lookup(ctx, name, now); e != nil {
		if e.file == nil {
			return Object{Info: e.info, Data: e.data}, nil
		}
		if obj, ok := c.share(e); ok {
			return obj, nil
		}
		// Changed in place, or dropped and closed since the lookup:
		// opened anew below.
	}
	name = strings.Clone(name)
	gen := c.gen.Load()
	obj, err := c.Backend.Open(ctx, name, rng)
	if err != nil || obj.Size > MaxCachedFile || obj.Offset != 0 {
		return obj, err
	}
	if obj.Size > minOpenFile {
		if f, _ := FileOf(obj.Body); f != nil {
			if e := c.addOpen(name, f, obj.Info, gen, now); e != nil {
				return e.object(), nil
			}
		}
		// Past MaxOpen (or where a file's stamp cannot be read): in
		// memory, as a smaller file.
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

// invalidate is deferred by every write. It also drops the files held
// open: a file replaced or deleted keeps its disk space while it is open,
// and an entry of an older generation is never served again. It always
// takes the lock, so that an entry addOpen inserts after checking gen is
// seen here (a write already costs an fsync); the files close outside
// it.
func (c *Cache) invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	held := c.takeOpen()
	c.mu.Unlock()
	for _, e := range held {
		e.release()
	}
}

// takeOpen removes the entries holding a file, whose holds the caller
// gives back (release). c.mu is held.
func (c *Cache) takeOpen() []*cachedFile {
	held := c.open
	for _, e := range held {
		c.size -= e.cost()
		delete(c.entries, e.name)
	}
	c.open = nil
	return held
}

// Close implements Backend: the files held open close once their sends
// end.
func (c *Cache) Close() error {
	c.invalidate()
	return c.Backend.Close()
}

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
	c.insert(e)
	return e
}

// addOpen caches f, held open, as name, opened while the generation was
// gen, and takes the file over, with a hold on it for the caller (a write
// may drop the entry as soon as the lock is released); or returns nil,
// leaving f to the caller, when the cache holds MaxOpen files already, a
// write has come since gen (the entry would be stale at once), or the
// file's stamp cannot be read.
func (c *Cache) addOpen(name string, f *os.File, info Info, gen uint64, now time.Time) *cachedFile {
	if c.held() >= c.MaxOpen {
		return nil
	}
	fd := int(f.Fd())
	stamp, ok := fstatStamp(fd)
	if !ok {
		return nil
	}
	e := &cachedFile{name: name, file: f, fd: fd, stamp: stamp, info: info, gen: gen}
	e.checked.Store(now.UnixNano())
	e.refs.Store(2) // the cache's and the caller's
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.open) >= c.MaxOpen || gen != c.gen.Load() {
		return nil
	}
	c.insert(e)
	e.slot = len(c.open)
	c.open = append(c.open, e)
	return e
}

// held is how many files the cache holds open.
func (c *Cache) held() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.open)
}

// insert caches e, in place of any entry of its name. c.mu is held.
func (c *Cache) insert(e *cachedFile) {
	if old := c.entries[e.name]; old != nil {
		c.drop(old)
	}
	if c.size+e.cost() > maxCacheBytes {
		// Starting over is cheaper than bookkeeping for an LRU, and the
		// working set of small files refills within a few requests.
		for _, held := range c.takeOpen() {
			held.release()
		}
		clear(c.entries)
		c.size = 0
	}
	c.entries[e.name] = e
	c.size += e.cost()
}

// drop removes e, cached, and gives back its hold on its file. c.mu is
// held.
func (c *Cache) drop(e *cachedFile) {
	c.size -= e.cost()
	delete(c.entries, e.name)
	if e.file == nil {
		return
	}
	last := c.open[len(c.open)-1]
	c.open[e.slot], last.slot = last, e.slot
	c.open[len(c.open)-1] = nil
	c.open = c.open[:len(c.open)-1]
	e.release()
}

// remove drops e, unless another request has replaced it meanwhile.
func (c *Cache) remove(e *cachedFile) {
	c.mu.Lock()
	if c.entries[e.name] == e {
		c.drop(e)
	}
	c.mu.Unlock()
}

// share returns e's file as an Object whose Body reads it, with a hold on
// it until the Body is closed; false when the file is closed, or has
// changed since it was opened (then e is dropped). A file rewritten in
// place would otherwise be sent under the headers of what it was: new
// bytes under the old ETag, or fewer bytes than the Content-Length
// promises. The comparison is one fstat, against the revalidation's
// lookup by name once a second, which sees a file replaced by rename.
func (c *Cache) share(e *cachedFile) (Object, bool) {
	if !e.hold() {
		return Object{}, false
	}
	if now, ok := fstatStamp(e.fd); !ok || now != e.stamp {
		e.release()
		c.remove(e)
		return Object{}, false
	}
	return e.object(), true
}

// object returns the entry's file as an Object whose Body reads it, and
// gives back a hold already taken when the Body is closed.
func (e *cachedFile) object() Object {
	body := sharedFiles.Get().(*sharedFile)
	body.e, body.off = e, 0
	return Object{Info: e.info, Body: body, Length: e.info.Size}
}

// sharedFile is a body read from a file the cache holds open, at an offset
// of its own, so that any number of requests send one descriptor at once.
// They are recycled: a cached file is served without an allocation. So a
// body must be closed exactly once: a second Close right after the first
// does nothing, but one after the struct was handed to another request
// would give back that request's hold.
type sharedFile struct {
	e   *cachedFile
	off int64
}

var sharedFiles = sync.Pool{New: func() any { return new(sharedFile) }}

func (s *sharedFile) Read(p []byte) (int, error) {
	n, err := s.e.file.ReadAt(p, s.off)
	s.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (s *sharedFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += s.off
	case io.SeekEnd:
		off += s.e.info.Size
	}
	if off < 0 {
		return s.off, errNegativeSeek
	}
	s.off = off
	return off, nil
}

// File hands the file to sendfile, with the offset it advances.
func (s *sharedFile) File() (*os.File, *int64) { return s.e.file, &s.off }

func (s *sharedFile) Close() error {
	if s.e == nil {
		return nil // closed twice
	}
	s.e.release()
	*s = sharedFile{}
	sharedFiles.Put(s)
	return nil
}

var errNegativeSeek = errors.New("seek before the start of the file")

// FileOf returns the file a backend's body offers for sendfile, and the
// offset to send from (nil: the file's own), or nil (see Object).
func FileOf(body io.Reader) (*os.File, *int64) {
	if f, ok := body.(interface{ File() (*os.File, *int64) }); ok {
		return f.File()
	}
	return nil, nil
}
