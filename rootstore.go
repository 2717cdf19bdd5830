package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
)

// rootStore keeps files in a directory. Every operation goes through
// os.Root, so no name, symlink or race can reach outside the directory.
type rootStore struct {
	root *os.Root

	mu      sync.Mutex
	uploads map[string]struct{} // temp files being written
}

func newRootStore(root *os.Root) *rootStore {
	return &rootStore{root: root, uploads: make(map[string]struct{})}
}

// Open implements store.
func (s *rootStore) Open(name string) (io.ReadSeekCloser, fileInfo, error) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, fileInfo{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fileInfo{}, fmt.Errorf("open %s: %w", name, errNotFile)
	}
	return f, infoOf(fi), nil
}

func infoOf(fi fs.FileInfo) fileInfo {
	return fileInfo{size: fi.Size(), modTime: fi.ModTime(), id: inode(fi)}
}

// Write implements store: the body goes to a temporary file beside the
// target, is synced, then renamed over it. Rename is atomic within a
// directory, so readers and concurrent writers see one whole body.
func (s *rootStore) Write(name string, body io.Reader) (created bool, err error) {
	dir := path.Dir(name)
	tmp := path.Join(dir, tempPrefix+strconv.FormatUint(rand.Uint64(), 36))
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) && dir != "." {
		// Create missing parents only when needed: MkdirAll walks the
		// whole path, which costs an upload to an existing directory
		// several system calls.
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		f, err = s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return false, err
	}
	s.track(tmp)
	defer s.untrack(tmp)
	defer func() {
		if err != nil {
			f.Close()
			_ = s.root.Remove(tmp)
		}
	}()

	buf := copyBuffers.Get().(*[64 << 10]byte)
	// Hide os.File's ReadFrom: it would fall back to io.Copy with a fresh
	// 32 KiB buffer for every upload.
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, body, buf[:])
	copyBuffers.Put(buf)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return false, err
	}
	if err = f.Close(); err != nil {
		return false, err
	}
	fi, statErr := s.root.Lstat(name)
	switch {
	case statErr == nil && fi.IsDir():
		return false, fmt.Errorf("write %s: %w", name, errConflict)
	case errors.Is(statErr, fs.ErrNotExist):
		created = true
	}
	if err = s.root.Rename(tmp, name); err != nil {
		return false, err
	}
	return created, nil
}

// copyBuffers recycles upload copy buffers: a 64 KiB buffer per upload
// would otherwise be the largest allocation on the write path.
var copyBuffers = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// Remove implements store.
func (s *rootStore) Remove(name string) error {
	return s.root.Remove(name)
}

func (s *rootStore) track(tmp string) {
	s.mu.Lock()
	s.uploads[tmp] = struct{}{}
	s.mu.Unlock()
}

func (s *rootStore) untrack(tmp string) {
	s.mu.Lock()
	delete(s.uploads, tmp)
	s.mu.Unlock()
}

// abandonUploads removes the temporary files of uploads still running, so
// that a shutdown that cuts them off leaves no partial file.
func (s *rootStore) abandonUploads() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tmp := range s.uploads {
		_ = s.root.Remove(tmp)
	}
}

// removeStaleTemps deletes the temporary files a killed process left
// behind. It walks the whole tree once, at start-up, and does not follow
// symlinks.
func (s *rootStore) removeStaleTemps() (int, error) {
	removed := 0
	err := fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable corner must not stop the server starting
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tempPrefix) {
			if err := s.root.Remove(p); err == nil {
				removed++
			}
		}
		return nil
	})
	return removed, err
}

// Stat implements store.
func (s *rootStore) Stat(name string) (fileInfo, error) {
	fi, err := s.root.Stat(name)
	if err != nil {
		return fileInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileInfo{}, fmt.Errorf("stat %s: %w", name, errNotFile)
	}
	return infoOf(fi), nil
}
