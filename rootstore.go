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
	"syscall"
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
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer, holding a thread for good. Regular files ignore the flag.
	f, err := s.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
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
	return fileInfo{size: fi.Size(), modTime: fi.ModTime(), changed: changeTime(fi), id: inode(fi)}
}

// Write implements store: the body goes to a temporary file beside the
// target, is synced, then linked or renamed over it, and the directory is
// synced so that the answer survives a power cut. Readers and concurrent
// writers see one whole body; a failed write, a panic included, leaves
// neither the temporary file nor a parent directory it created.
func (s *rootStore) Write(name string, body io.Reader, onlyIfAbsent bool) (created bool, err error) {
	dir := path.Dir(name)
	tmp := path.Join(dir, tempPrefix+strconv.FormatUint(rand.Uint64(), 36))
	f, newDirs, err := s.createTemp(tmp)
	if err != nil {
		return false, err
	}
	s.track(tmp)
	defer s.untrack(tmp)
	done := false
	defer func() {
		if !done {
			f.Close()
			_ = s.root.Remove(tmp)
			s.removeDirs(newDirs)
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
	if created, err = s.commit(tmp, name, onlyIfAbsent); err != nil {
		return false, err
	}
	done = true
	s.syncDirs(dir, len(newDirs))
	return created, nil
}

// createTemp creates the upload's temporary file. Missing parents are
// created only when needed (MkdirAll would cost an upload to an existing
// directory several system calls), and reported so that a failed write
// can remove them. A DELETE of a parent may race the create, so it is
// tried again, a bounded number of times.
func (s *rootStore) createTemp(tmp string) (f *os.File, newDirs []string, err error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	const tries = 3
	for try := 1; ; try++ {
		f, err = s.root.OpenFile(tmp, flags, 0o644)
		if !errors.Is(err, fs.ErrNotExist) || path.Dir(tmp) == "." {
			break
		}
		if try == tries {
			// Deleted again each time it was made: the client raced itself.
			err = fmt.Errorf("create %s: parent removed meanwhile: %w", tmp, errConflict)
			break
		}
		made, mkErr := s.mkdirs(path.Dir(tmp))
		newDirs = append(newDirs, made...)
		if mkErr != nil {
			err = mkErr
			break
		}
	}
	if err != nil {
		s.removeDirs(newDirs)
		return nil, nil, err
	}
	return f, newDirs, nil
}

// mkdirs creates dir and its missing parents, top down, and returns the
// ones it created.
func (s *rootStore) mkdirs(dir string) (made []string, err error) {
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		err := s.root.Mkdir(dir[:i], 0o755)
		switch {
		case err == nil:
			made = append(made, dir[:i])
		case !errors.Is(err, fs.ErrExist):
			return made, err
		}
	}
	return made, nil
}

// removeDirs removes the directories a failed write created, deepest
// first. One that another writer has meanwhile put something in stays.
func (s *rootStore) removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = s.root.Remove(dirs[i])
	}
}

// commit gives the synced temporary file its name. Whether the name was
// created or replaced is decided by the kernel, not by an earlier look:
// a hard link fails when the name exists, so of two writers creating one
// name exactly one is told it created it. Where hard links are not
// supported, a look before the rename decides.
func (s *rootStore) commit(tmp, name string, onlyIfAbsent bool) (created bool, err error) {
	err = s.root.Link(tmp, name)
	switch {
	case err == nil:
		// Should the temporary name outlive this, it is never served and
		// the next start removes it; the write itself has succeeded.
		_ = s.root.Remove(tmp)
		return true, nil
	case errors.Is(err, fs.ErrExist):
		if onlyIfAbsent {
			return false, fmt.Errorf("create %s: %w", name, errExists)
		}
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EMLINK):
		if _, statErr := s.root.Lstat(name); errors.Is(statErr, fs.ErrNotExist) {
			created = true
		} else if onlyIfAbsent {
			return false, fmt.Errorf("create %s: %w", name, errExists)
		}
	default:
		return false, err
	}
	// rename(2) refuses to put a file over a directory (EISDIR: 409).
	return created, s.root.Rename(tmp, name)
}

// syncDirs syncs dir and, when the write created directories, the
// parents that gained an entry, so that a power cut cannot lose a name
// that was answered 201 or 204. Its errors are not the write's: the new
// name is in place and cannot be taken back.
func (s *rootStore) syncDirs(dir string, newDirs int) {
	for range newDirs + 1 {
		if d, err := s.root.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
		if dir == "." {
			return
		}
		dir = path.Dir(dir)
	}
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
