package store

import (
	"context"
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
	"time"
)

// TempPrefix starts the name of every upload in progress. Such names are
// reserved: no request may read, write or delete them, and they are never
// listed.
const TempPrefix = ".httpbox-tmp-"

// maxNameBytes is the longest name of one path segment (NAME_MAX of
// Linux's file systems).
const maxNameBytes = 255

// Dir keeps files in a directory. Every operation goes through os.Root,
// so no name, symlink or race can reach outside the directory.
type Dir struct {
	root *os.Root

	mu sync.Mutex
	// uploads are the temporary files being written, with the directories
	// each upload created on its way (removed if it is cut off).
	uploads map[string][]string

	// names serialises the commits (link, rename, remove) of one name with
	// the re-check of their preconditions; see nameLock.
	names [64]sync.Mutex
}

// NewDir opens the directory root as a backend.
func NewDir(root string) (*Dir, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	return &Dir{root: r, uploads: make(map[string][]string)}, nil
}

// CheckName implements Backend: names longer than the file systems'
// NAME_MAX are refused before anything is created on their way, and the
// temporary files' prefix is reserved.
func (d *Dir) CheckName(name string) error {
	for seg := range strings.SplitSeq(name, "/") {
		if len(seg) > maxNameBytes || strings.HasPrefix(seg, TempPrefix) {
			return fmt.Errorf("%w: %.64q", ErrBadName, name)
		}
	}
	return nil
}

// Stat implements Backend.
func (d *Dir) Stat(_ context.Context, name string) (Info, error) {
	fi, err := d.root.Stat(name)
	if err != nil {
		return Info{}, dirError(err)
	}
	return infoOf(fi)
}

// Open implements Backend. The whole file is opened whatever rng asks:
// the caller seeks, or sends the part it wants with sendfile.
func (d *Dir) Open(_ context.Context, name string, _ Range) (Object, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer, holding a thread for good. Regular files ignore the flag.
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Object{}, dirError(err)
	}
	fi, err := f.Stat()
	if err == nil {
		var info Info
		if info, err = infoOf(fi); err == nil && info.IsDir {
			err = fmt.Errorf("open %s: %w", name, ErrIsDir)
		}
		if err == nil {
			return Object{Info: info, Body: &dirFile{f: f}, Length: info.Size}, nil
		}
	}
	f.Close()
	return Object{}, dirError(err)
}

// dirFile is an open file of a Dir: it can be read, seeked and sent with
// sendfile (File). Other methods of os.File stay hidden, ReadFrom and
// WriteTo among them, so that copies take the caller's buffers.
type dirFile struct{ f *os.File }

func (d *dirFile) Read(p []byte) (int, error)                { return d.f.Read(p) }
func (d *dirFile) Seek(off int64, whence int) (int64, error) { return d.f.Seek(off, whence) }
func (d *dirFile) Close() error                              { return d.f.Close() }

// File hands the file to sendfile, from its own offset.
func (d *dirFile) File() (*os.File, *int64) { return d.f, nil }

// infoOf describes a regular file or a directory; anything else is
// ErrNotExist, as if it were not there: only files and directories are
// served.
func infoOf(fi fs.FileInfo) (Info, error) {
	switch {
	case fi.IsDir():
		return Info{IsDir: true, ModTime: fi.ModTime()}, nil
	case !fi.Mode().IsRegular():
		return Info{}, fmt.Errorf("%s: %w (not a regular file)", fi.Name(), ErrNotExist)
	}
	return Info{Size: fi.Size(), ModTime: fi.ModTime(), ETag: etagOf(fi)}, nil
}

// etagOf builds a strong validator from size, mtime, ctime and inode: any
// write (a rename of a new file through us, or a rewrite in place that
// restores the mtime) changes at least one.
func etagOf(fi fs.FileInfo) string {
	return etag(fi.Size(), fi.ModTime(), changeTime(fi), inode(fi))
}

func etag(size int64, mtime, ctime time.Time, ino uint64) string {
	var buf [80]byte
	b := append(buf[:0], '"')
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, mtime.UnixNano(), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, ctime.UnixNano(), 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, ino, 16)
	return string(append(b, '"'))
}

// dirError translates an os error into the package's sentinels, keeping
// the original for the log.
func dirError(err error) error {
	var errno syscall.Errno
	isErrno := errors.As(err, &errno)
	var pathErr *fs.PathError
	var sentinel error
	switch {
	case err == nil:
		return nil
	case translated(err):
		return err
	case isErrno && (errno == syscall.ENOSPC || errno == syscall.EDQUOT):
		sentinel = ErrNoSpace
	case isErrno && (errno == syscall.EMFILE || errno == syscall.ENFILE):
		// Out of descriptors: the requests running at once hold more
		// files than the server kept for them; this one may succeed
		// again in a moment.
		sentinel = ErrUnavailable
	case isErrno && errno == syscall.ENAMETOOLONG:
		sentinel = ErrBadName
	case isErrno && errno == syscall.ENOTDIR:
		sentinel = ErrNotDir
	case isErrno && errno == syscall.EISDIR:
		sentinel = ErrIsDir
	case isErrno && errno == syscall.ENOTEMPTY:
		sentinel = ErrNotEmpty
	case isErrno && errno == syscall.ELOOP, errors.Is(err, fs.ErrNotExist):
		sentinel = ErrNotExist
	case errors.Is(err, fs.ErrExist):
		sentinel = ErrExist
	case errors.As(err, &pathErr) && !isErrno:
		// os.Root refused a name that leads out of the root (a symlink);
		// its error has no exported sentinel, but it is the only PathError
		// that is not a system call's errno.
		sentinel = ErrOutside
	default:
		return err // already ours, or the server's problem
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// Put implements Backend: the body goes to a temporary file beside the
// target, is synced, then linked or renamed over it, and the directory is
// synced so that the answer survives a power cut. Readers and concurrent
// writers see one whole body; a failed write, a panic included, leaves
// neither the temporary file nor a parent directory it created.
func (d *Dir) Put(_ context.Context, name string, body io.Reader, _ int64, cond Cond) (created bool, err error) {
	return d.write(name, body, cond, true)
}

// write is Put, and Copy's copy of one file (which creates no parents).
// It works in the file's directory through a handle of its own (see
// createTemp): creating, linking, renaming and syncing there then take a
// system call each, where a path of n directories would make each of
// them open and close the n directories again.
func (d *Dir) write(name string, body io.Reader, cond Cond, makeParents bool) (created bool, err error) {
	dir := path.Dir(name)
	tmpBase := TempPrefix + strconv.FormatUint(rand.Uint64(), 36)
	tmp := path.Join(dir, tmpBase)
	// Tracked before it exists, so that the sweep of stale temporary files
	// never takes it for one.
	d.track(tmp, nil)
	defer d.untrack(tmp)
	parent, f, newDirs, err := d.createTemp(dir, tmpBase, makeParents)
	if err != nil {
		return false, dirError(err)
	}
	if parent != d.root {
		defer parent.Close()
	}
	d.track(tmp, newDirs)
	// The file stays open, and so locked against other processes' sweeps
	// (see lockTemp), until it has its name.
	defer f.Close()
	done := false
	defer func() {
		if !done {
			_ = parent.Remove(tmpBase)
			d.removeDirs(newDirs)
		}
	}()

	buf := copyBuffers.Get().(*[64 << 10]byte)
	err = writeAll(f, body, buf[:])
	copyBuffers.Put(buf)
	if err != nil {
		return false, dirError(fmt.Errorf("write %s: %w", name, err))
	}
	if err = f.Sync(); err != nil {
		return false, dirError(err)
	}
	if created, err = d.commit(parent, tmpBase, name, cond); err != nil {
		return false, dirError(err)
	}
	done = true
	syncDir(parent, ".")
	if len(newDirs) > 0 {
		d.syncDirs(path.Dir(dir), len(newDirs)-1)
	}
	return created, nil
}

// createTemp opens the upload's directory, dir, and creates the temporary
// file tmpBase in it. Missing parents are created only when needed
// (MkdirAll would cost an upload to an existing directory several system
// calls), and reported so that a failed write can remove them. A DELETE
// of a parent may race the create, so it is tried again, a bounded number
// of times. The directory's handle is the root itself for a file at the
// top; the caller closes any other.
func (d *Dir) createTemp(dir, tmpBase string, makeParents bool) (parent *os.Root, f *os.File, newDirs []string, err error) {
	// O_NONBLOCK, which changes nothing for a regular file, spares four
	// of the five system calls os.File makes to try it with the poller.
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NONBLOCK
	const tries = 3
	tmp := path.Join(dir, tmpBase)
	for try := 1; ; try++ {
		parent, f, err = d.openIn(dir, tmpBase, flags)
		if !errors.Is(err, fs.ErrNotExist) || dir == "." || !makeParents {
			break
		}
		if try == tries {
			// Deleted again each time it was made: the client raced itself.
			err = fmt.Errorf("create %s: parent removed meanwhile: %w", tmp, ErrConflict)
			break
		}
		made, mkErr := d.mkdirs(dir)
		newDirs = append(newDirs, made...)
		if mkErr != nil {
			err = mkErr
			if _, rootErr := d.root.Stat("."); errors.Is(mkErr, fs.ErrNotExist) && rootErr == nil {
				// A symlink on the way that leads nowhere: the path
				// conflicts with what is there. (Without the root, it is
				// the server's problem.)
				err = fmt.Errorf("create %s: %w: %w", tmp, ErrConflict, mkErr)
			}
			break
		}
	}
	if err != nil {
		d.removeDirs(newDirs)
		if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrConflict) {
			if _, rootErr := d.root.Stat("."); rootErr != nil {
				// Without its root, a write is the server's problem, not
				// a missing name.
				return nil, nil, nil, fmt.Errorf("create %s: root unusable: %v", tmp, rootErr)
			}
		}
		return nil, nil, nil, err
	}
	lockTemp(f)
	return parent, f, newDirs, nil
}

// openIn opens dir and, in it, the file base with flags.
func (d *Dir) openIn(dir, base string, flags int) (parent *os.Root, f *os.File, err error) {
	parent = d.root
	if dir != "." {
		if parent, err = d.root.OpenRoot(dir); err != nil {
			if info, statErr := d.root.Stat(dir); statErr == nil && !info.IsDir() {
				// OpenRoot says so in words of its own.
				err = &fs.PathError{Op: "openat", Path: dir, Err: syscall.ENOTDIR}
			}
			return nil, nil, err
		}
	}
	if f, err = parent.OpenFile(base, flags, 0o644); err != nil {
		if parent != d.root {
			parent.Close()
		}
		return nil, nil, fmt.Errorf("create %s: %w", path.Join(dir, base), err)
	}
	return parent, f, nil
}

// mkdirs creates dir and its missing parents, top down, and returns the
// ones it created.
func (d *Dir) mkdirs(dir string) (made []string, err error) {
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		err := d.root.Mkdir(dir[:i], 0o755)
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
func (d *Dir) removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = d.root.Remove(dirs[i])
	}
}

// commit gives the synced temporary file its name. Whether the name was
// created or replaced is decided by the kernel, not by an earlier look:
// a hard link fails when the name exists, so of two writers creating one
// name exactly one is told it created it. Where hard links are not
// supported, a look before the rename decides. The write's precondition
// is checked again here, under the name's lock, so that no other write
// through this Dir lands between the check and the commit.
func (d *Dir) commit(parent *os.Root, tmpBase, name string, cond Cond) (created bool, err error) {
	mu := d.nameLock(name)
	mu.Lock()
	defer mu.Unlock()
	if err := d.check(name, cond); err != nil {
		return false, err
	}
	base := path.Base(name)
	err = parent.Link(tmpBase, base)
	switch {
	case err == nil:
		// Should the temporary name outlive this, it is never served and
		// the next start removes it; the write itself has succeeded.
		_ = parent.Remove(tmpBase)
		return true, nil
	case errors.Is(err, fs.ErrExist):
		if cond.IfAbsent {
			return false, fmt.Errorf("create %s: %w", name, ErrExist)
		}
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EMLINK):
		if _, statErr := parent.Lstat(base); errors.Is(statErr, fs.ErrNotExist) {
			created = true
		} else if cond.IfAbsent {
			return false, fmt.Errorf("create %s: %w", name, ErrExist)
		}
	default:
		return false, err
	}
	err = parent.Rename(tmpBase, base)
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) {
		// rename(2) refuses to put a file over a directory.
		err = fmt.Errorf("%w: %w", ErrIsDir, err)
	}
	return created, err
}

// check asks cond.Holds about what name holds now; called under the
// name's lock.
func (d *Dir) check(name string, cond Cond) error {
	if cond.Holds == nil {
		return nil
	}
	cur, err := d.Stat(context.Background(), name)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrNotDir) {
		return err
	}
	if !cond.Holds(cur, exists) {
		return fmt.Errorf("%s: %w", name, ErrPrecondition)
	}
	return nil
}

// nameLock returns the lock that serialises the commits of name. Names
// share 64 locks by a hash: a rare wait between two unrelated writes is
// cheaper than a lock per name.
func (d *Dir) nameLock(name string) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return &d.names[h%uint32(len(d.names))]
}

// syncDirs syncs dir and, when the write created directories, the
// parents that gained an entry, so that a power cut cannot lose a name
// that was answered 201 or 204. Its errors are not the write's: the new
// name is in place and cannot be taken back.
func (d *Dir) syncDirs(dir string, newDirs int) {
	for range newDirs + 1 {
		syncDir(d.root, dir)
		if dir == "." {
			return
		}
		dir = path.Dir(dir)
	}
}

// syncDir syncs the directory dir of r. O_NONBLOCK: as for the temporary
// file (see createTemp).
func syncDir(r *os.Root, dir string) {
	if f, err := r.OpenFile(dir, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

// writeAll copies body to f through buf, filling buf before each write:
// the HTTP side hands a body's first byte over on its own (it has fasthttp
// read no more before the handler), and a copy of what each read brings
// would write a small upload in two system calls. Only io.EOF ends the
// body; any other error, io.ErrUnexpectedEOF included, is the body's
// failure (io.ReadFull would take that one for a short end).
func writeAll(f *os.File, body io.Reader, buf []byte) error {
	for {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = body.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copyBuffers recycles upload copy buffers: a 64 KiB buffer per upload
// would otherwise be the largest allocation on the write path.
var copyBuffers = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// Delete implements Backend. A symlink is removed itself, never what it
// points to.
func (d *Dir) Delete(_ context.Context, name string, recursive bool, cond Cond) error {
	mu := d.nameLock(name)
	mu.Lock()
	defer mu.Unlock()
	if err := d.check(name, cond); err != nil {
		return err
	}
	if name == "." {
		return fmt.Errorf("delete the root: %w", ErrConflict)
	}
	err := d.root.Remove(name)
	if recursive && (errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)) {
		err = d.root.RemoveAll(name)
	}
	if errors.Is(err, syscall.EEXIST) {
		err = fmt.Errorf("%w: %w", ErrNotEmpty, err) // rmdir's other way to say so
	}
	return dirError(err)
}

// Mkdir implements Backend.
func (d *Dir) Mkdir(_ context.Context, name string) error {
	return dirError(d.root.Mkdir(name, 0o755))
}

func (d *Dir) track(tmp string, newDirs []string) {
	d.mu.Lock()
	d.uploads[tmp] = newDirs
	d.mu.Unlock()
}

func (d *Dir) untrack(tmp string) {
	d.mu.Lock()
	delete(d.uploads, tmp)
	d.mu.Unlock()
}

// Close implements Backend: the temporary files of uploads still running
// are removed, with the directories they created, so that a shutdown that
// cuts them off leaves nothing behind; then the root is closed.
func (d *Dir) Close() error {
	d.mu.Lock()
	for tmp, newDirs := range d.uploads {
		_ = d.root.Remove(tmp)
		d.removeDirs(newDirs)
	}
	d.mu.Unlock()
	return d.root.Close()
}
