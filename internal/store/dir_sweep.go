package store

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Cleanup implements Backend. It removes the temporary files that a
// killed process left behind: regular files named with TempPrefix anywhere
// under the root. It is meant to run in the background once the server is listening, so that
// start-up does not wait for a large or deep tree.
//
// The walk is iterative and its cost is linear in the number of entries,
// whatever the depth: every directory is opened once, by its own name,
// relative to a handle on its parent, and a handle is kept only while
// its directory still has subdirectories to visit. Past sweepMaxOpen
// such handles some are closed, keeping O(log depth), and reopened from
// their nearest open ancestor when needed (see hold). No symlink is
// followed: a directory is entered only if the handle opened is the
// directory listed, and only regular files are removed.
//
// A live upload never loses its file: write tracks its temporary name
// before the file exists, and a temporary file is removed only if,
// checked under s.mu as it is removed, no upload being tracked has its
// name.
//
// Errors other than an entry vanishing or changing meanwhile go to
// report, the first sweepMaxReports in full and the rest as a count. The
// sweep stops early, without a report, once the root is closed. It returns
// how many files it removed.
func (s *Dir) Cleanup(report func(format string, args ...any)) (removed int) {
	return s.newSweeper(report).run()
}

const (
	sweepMaxOpen    = 16  // directory handles a sweep holds before it closes some
	sweepMaxReports = 10  // errors reported in full; the rest are counted
	sweepBatch      = 256 // directory entries read at a time
	sweepRootCheck  = 64  // directories between two looks at whether the root is closed
)

// sweeper is one run of Cleanup. Its fields other than s and
// report are seams for tests.
type sweeper struct {
	s      *Dir
	report func(format string, args ...any)

	maxOpen int
	openDir func(parent *os.Root, name string) (*os.Root, error)

	stack    []sweepFrame // the path from the root to the current directory
	held     []int        // the frames holding a handle, the root excepted, by depth
	peakOpen int
	dirs     int // directories entered
	errs     int
	removed  int
	stopped  bool
}

// sweepFrame is a directory on the path being walked.
type sweepFrame struct {
	name    string        // in its parent; "" for the root
	info    fs.FileInfo   // as its parent listed it; nil for the root
	dir     *os.Root      // nil once no longer needed, or evicted
	subdirs []fs.DirEntry // still to visit, from the end
}

func (s *Dir) newSweeper(report func(format string, args ...any)) *sweeper {
	return &sweeper{
		s:       s,
		report:  report,
		maxOpen: sweepMaxOpen,
		openDir: (*os.Root).OpenRoot,
	}
}

func (w *sweeper) run() int {
	w.stack = append(w.stack, sweepFrame{dir: w.s.root})
	w.scan(0)
	for len(w.stack) > 0 && !w.stopped {
		top := len(w.stack) - 1
		f := &w.stack[top]
		if len(f.subdirs) == 0 {
			w.release(top)
			w.stack[top] = sweepFrame{}
			w.stack = w.stack[:top]
			continue
		}
		e := f.subdirs[len(f.subdirs)-1]
		f.subdirs[len(f.subdirs)-1] = nil
		f.subdirs = f.subdirs[:len(f.subdirs)-1]
		parent := w.handle(top)
		if parent == nil {
			w.stack[top].subdirs = nil // the directory changed meanwhile
			continue
		}
		info, err := e.Info()
		if err != nil {
			w.fail(top, e.Name(), err)
			continue
		}
		child, err := w.enter(parent, e.Name(), info)
		if len(w.stack[top].subdirs) == 0 {
			w.release(top) // its last subdirectory: no longer needed
		}
		if child == nil {
			if err != nil {
				w.fail(top, e.Name(), err)
			}
			continue
		}
		w.stack = append(w.stack, sweepFrame{name: e.Name(), info: info, dir: child})
		w.hold(top + 1)
		w.scan(top + 1)
	}
	for i := range w.stack {
		w.release(i)
	}
	w.stack = nil
	if n := w.errs - sweepMaxReports; n > 0 {
		w.report("sweeping stale temporary files: %d more error(s) not shown", n)
	}
	return w.removed
}

// enter opens the subdirectory name of parent and checks that it is the
// directory that was listed as info. It returns
// nil and no error when the entry vanished or changed meanwhile (into a
// symlink, say).
func (w *sweeper) enter(parent *os.Root, name string, info fs.FileInfo) (*os.Root, error) {
	w.dirs++
	if w.dirs%sweepRootCheck == 0 {
		if _, err := w.s.root.Stat("."); errors.Is(err, os.ErrClosed) {
			w.stopped = true
			return nil, nil
		}
	}
	r, err := w.openDir(parent, name)
	if err != nil {
		if sweepVanished(err) || sweepChanged(parent, name, info) {
			return nil, nil
		}
		return nil, err
	}
	got, err := r.Stat(".")
	if err != nil || !os.SameFile(got, info) {
		r.Close()
		return nil, err
	}
	return r, nil
}

// sweepChanged tells whether the entry name of parent is no longer the
// directory info.
func sweepChanged(parent *os.Root, name string, info fs.FileInfo) bool {
	now, err := parent.Lstat(name)
	return err != nil || !now.IsDir() || !os.SameFile(now, info)
}

// sweepVanished tells whether err says that what was listed has gone.
func sweepVanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// scan reads the directory of frame i, which holds a handle: it notes the
// subdirectories to visit and removes the stale temporary files.
func (w *sweeper) scan(i int) {
	dir := w.stack[i].dir
	d, err := dir.Open(".")
	if err != nil {
		if !sweepVanished(err) {
			w.fail(i, "", err)
		}
		return
	}
	var subdirs, temps []fs.DirEntry
	for {
		entries, err := d.ReadDir(sweepBatch)
		for _, e := range entries {
			switch t := e.Type(); {
			case t.IsDir():
				subdirs = append(subdirs, e)
			case t.IsRegular() && strings.HasPrefix(e.Name(), TempPrefix):
				temps = append(temps, e)
			}
		}
		if err != nil {
			if err != io.EOF && !sweepVanished(err) {
				w.fail(i, "", err)
			}
			break
		}
	}
	d.Close()
	w.stack[i].subdirs = subdirs
	for _, e := range temps {
		w.removeTemp(i, dir, e)
	}
}

// removeTemp removes the temporary file e of the directory of frame i if
// it is stale: no upload's.
func (w *sweeper) removeTemp(i int, dir *os.Root, e fs.DirEntry) {
	var err error
	w.s.mu.Lock()
	live := w.s.uploadingLocked(e.Name()) || lockedByAnother(dir, e.Name())
	if !live {
		err = dir.Remove(e.Name())
	}
	w.s.mu.Unlock()
	switch {
	case live:
	case err == nil:
		w.removed++
	case !sweepVanished(err):
		w.fail(i, e.Name(), err)
	}
}

// uploadingLocked tells whether an upload being tracked writes to a
// temporary file named base. The name alone is compared: its random part
// makes it unique, and one directory may have several paths (through a
// symlink) of which the upload's need not be the sweep's. Called with
// s.mu held.
func (s *Dir) uploadingLocked(base string) bool {
	for tmp := range s.uploads {
		if path.Base(tmp) == base {
			return true
		}
	}
	return false
}

// handle returns the handle on the directory of frame k, reopening it,
// one name at a time from its nearest open ancestor, if it was evicted.
// The frames on the way that still have subdirectories to visit keep
// their handles too, as far as maxOpen allows: they are needed next. It
// returns nil if a directory on the way vanished or changed meanwhile.
func (w *sweeper) handle(k int) *os.Root {
	if w.stack[k].dir != nil {
		return w.stack[k].dir
	}
	j := k - 1
	for w.stack[j].dir == nil {
		j--
	}
	cur, curHeld := w.stack[j].dir, true
	for m := j + 1; m <= k; m++ {
		next, err := w.enter(cur, w.stack[m].name, w.stack[m].info)
		if !curHeld {
			cur.Close()
		}
		if next == nil {
			if err != nil {
				w.fail(m-1, w.stack[m].name, err)
			}
			return nil
		}
		cur, curHeld = next, m == k || len(w.stack[m].subdirs) > 0
		if curHeld {
			w.stack[m].dir = cur
			w.hold(m)
		}
	}
	return cur
}

// hold counts the handle just given to frame k. Past maxOpen, it closes
// those of the frames p whose distance to the deepest frame is at least
// p's lowest set bit: what stays is at most one frame per power of two
// of distance (with the deepest frame at 5000: 4992, 4864, 4608, 4096 and
// the root), so that reopening an evicted directory from its nearest
// open ancestor costs about its distance to the deepest, and climbing a
// path of any depth reopens O(depth log depth) directories, not
// O(depth²). A tree with fewer than maxOpen branching ancestors on any
// path never closes a handle early.
func (w *sweeper) hold(k int) {
	at, _ := slices.BinarySearch(w.held, k)
	w.held = slices.Insert(w.held, at, k)
	if len(w.held) > w.maxOpen {
		deepest := len(w.stack) - 1
		for n := 0; n < len(w.held); {
			if p := w.held[n]; p != k && deepest >= p+(p&-p) {
				w.release(p)
				continue
			}
			n++
		}
	}
	w.peakOpen = max(w.peakOpen, len(w.held))
}

// release closes the handle of frame i, unless it is the root's.
func (w *sweeper) release(i int) {
	if i > 0 && w.stack[i].dir != nil {
		w.stack[i].dir.Close()
		w.stack[i].dir = nil
		if at, ok := slices.BinarySearch(w.held, i); ok {
			w.held = slices.Delete(w.held, at, at+1)
		}
	}
}

// fail reports err, met at the entry name of the directory of frame i
// ("" for the directory itself).
func (w *sweeper) fail(i int, name string, err error) {
	if errors.Is(err, os.ErrClosed) {
		w.stopped = true // the server has shut down
		return
	}
	w.errs++
	if w.errs > sweepMaxReports {
		return
	}
	elems := make([]string, 0, i+1)
	for _, f := range w.stack[1 : i+1] {
		elems = append(elems, f.name)
	}
	p := path.Join(append(elems, name)...)
	if p == "" {
		p = "."
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		w.report("sweeping stale temporary files: %s %s: %v", pe.Op, p, pe.Err)
		return
	}
	w.report("sweeping stale temporary files: %s: %v", p, err)
}
