package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

var _ Backend = (*Dir)(nil)

// List implements Backend. It reads the directory's names (all of them:
// sorting needs them), then describes one entry at a time. A symlink is
// described by its target, through the root, so one that leads out of the
// root or nowhere fails and is left out.
func (d *Dir) List(ctx context.Context, dir string, fn func(Info) error) error {
	info, err := d.Stat(ctx, dir)
	if err != nil {
		return err
	}
	if !info.IsDir {
		return fmt.Errorf("list %s: %w", dir, ErrNotDir)
	}
	// Entries are described relative to a handle on the directory: one
	// fstatat each, where a lookup through the root would walk the whole
	// path again for every entry.
	sub, err := d.root.OpenRoot(dir)
	if err != nil {
		return dirError(err)
	}
	defer sub.Close()
	// O_NONBLOCK spares four of the five system calls os.File makes to
	// try a directory with the poller (see Dir.createTemp).
	f, err := sub.OpenFile(".", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return dirError(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return dirError(err)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.HasPrefix(name, TempPrefix) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, symlink, err := entryInfo(sub, f, name)
		if symlink {
			// Through the root, which refuses a target outside it.
			var fi fs.FileInfo
			if fi, err = d.root.Stat(path.Join(dir, name)); err == nil {
				info, err = infoOf(fi)
			}
		}
		if err != nil {
			// Gone meanwhile, a special file, or a symlink out of the
			// root or nowhere.
			continue
		}
		info.Name = name
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Move implements Backend. A file or a directory moves with rename(2),
// properties (extended attributes) included; only a directory replaced by
// it is removed first, since rename cannot replace a directory that is not
// empty.
func (d *Dir) Move(ctx context.Context, src, dst string, overwrite bool) (created bool, err error) {
	srcInfo, dstExists, err := d.prepareTransfer(ctx, src, dst, overwrite, true)
	if err != nil {
		return false, err
	}
	if dstExists {
		dstInfo, err := d.root.Lstat(dst)
		if err == nil && (dstInfo.IsDir() || srcInfo.IsDir()) {
			if err := d.root.RemoveAll(dst); err != nil {
				return false, dirError(err)
			}
		}
	}
	if err := d.root.Rename(src, dst); err != nil {
		return false, dirError(err)
	}
	d.syncDirs(path.Dir(src), 0)
	d.syncDirs(path.Dir(dst), 0)
	return !dstExists, nil
}

// Copy implements Backend. Each file is copied as Put writes one (a
// synced temporary file renamed into place), with its properties.
// Symlinks are copied as what they point to, within the root; a symlink
// to a directory that is being copied already (a loop) is left out.
func (d *Dir) Copy(ctx context.Context, src, dst string, overwrite, recursive bool) (created bool, err error) {
	srcInfo, dstExists, err := d.prepareTransfer(ctx, src, dst, overwrite, false)
	if err != nil {
		return false, err
	}
	if dstExists && srcInfo.IsDir() {
		if err := d.root.RemoveAll(dst); err != nil {
			return false, dirError(err)
		}
	} else if dstExists {
		if fi, err := d.root.Lstat(dst); err == nil && fi.IsDir() {
			if err := d.root.RemoveAll(dst); err != nil {
				return false, dirError(err)
			}
		}
	}
	if err := d.copyTree(ctx, src, dst, srcInfo, recursive, nil, nil); err != nil {
		return false, err
	}
	return !dstExists, nil
}

// prepareTransfer checks a Move or Copy before it touches anything: the
// source exists, the destination's parent is a directory, a directory
// does not go into itself, and an existing destination may be replaced.
// The source is described as a move sees it (the symlink itself) or as a
// copy does (what it points to).
func (d *Dir) prepareTransfer(ctx context.Context, src, dst string, overwrite, move bool) (srcInfo fs.FileInfo, dstExists bool, err error) {
	// Into itself, it would copy forever; onto an ancestor, removing what
	// dst holds would remove src with it.
	if src == "." || dst == "." || src == dst || strings.HasPrefix(dst, src+"/") || strings.HasPrefix(src, dst+"/") {
		return nil, false, fmt.Errorf("%s to %s: %w", src, dst, ErrConflict)
	}
	if move {
		srcInfo, err = d.root.Lstat(src)
	} else {
		srcInfo, err = d.root.Stat(src)
	}
	if err != nil {
		return nil, false, dirError(err)
	}
	if err := d.notNested(src, dst, srcInfo); err != nil {
		return nil, false, err
	}
	if _, err := infoOf(srcInfo); err != nil && !move {
		return nil, false, err
	}
	parent, err := d.Stat(ctx, path.Dir(dst))
	switch {
	case err != nil:
		return nil, false, err
	case !parent.IsDir:
		return nil, false, fmt.Errorf("%s: %w", path.Dir(dst), ErrNotDir)
	}
	_, err = d.root.Lstat(dst)
	switch {
	case err == nil && !overwrite:
		return nil, false, fmt.Errorf("%s: %w", dst, ErrExist)
	case err == nil:
		return srcInfo, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return srcInfo, false, nil
	}
	return nil, false, dirError(err)
}

// notNested checks through symlinks what prepareTransfer checked by name:
// names differ from where they lead when a symlink is on the way. A
// directory src (as the transfer sees it) must not be dst or one of its
// ancestors, and dst, if it is a directory that would be removed, must not
// be src or one of src's ancestors.
func (d *Dir) notNested(src, dst string, srcInfo fs.FileInfo) error {
	conflict := fmt.Errorf("%s to %s: %w (through a symlink)", src, dst, ErrConflict)
	if srcInfo.IsDir() && d.hasAncestorOrSelf(dst, srcInfo) {
		return conflict
	}
	if dstInfo, err := d.root.Lstat(dst); err == nil && dstInfo.IsDir() && d.hasAncestorOrSelf(src, dstInfo) {
		return conflict
	}
	return nil
}

// hasAncestorOrSelf reports whether name, or a directory on its way from
// the root, is the directory dir (symlinks followed, as a lookup does).
func (d *Dir) hasAncestorOrSelf(name string, dir fs.FileInfo) bool {
	for p := name; p != "."; p = path.Dir(p) {
		if fi, err := d.root.Stat(p); err == nil && os.SameFile(fi, dir) {
			return true
		}
	}
	return false
}

// copyTree copies src (described by info, symlinks followed) to dst,
// which does not exist. onPath holds the directories being copied above
// it, and made the top directory of the copy, so that a symlink back up
// the tree is not followed round for ever, nor into the copy being made.
func (d *Dir) copyTree(ctx context.Context, src, dst string, info fs.FileInfo, recursive bool, onPath []fs.FileInfo, made fs.FileInfo) error {
	if !info.IsDir() {
		f, err := d.root.OpenFile(src, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return dirError(err)
		}
		defer f.Close()
		if _, err := d.write(dst, f, Cond{}, false); err != nil {
			return err
		}
		return d.copyProps(src, dst)
	}
	if err := d.root.Mkdir(dst, 0o755); err != nil {
		return dirError(err)
	}
	if err := d.copyProps(src, dst); err != nil {
		return err
	}
	if !recursive {
		return nil
	}
	if made == nil {
		var err error
		if made, err = d.root.Stat(dst); err != nil {
			return dirError(err)
		}
	}
	onPath = append(onPath, info)
	return d.List(ctx, src, func(e Info) error {
		from, to := path.Join(src, e.Name), path.Join(dst, e.Name)
		fi, err := d.root.Stat(from)
		if err != nil {
			return nil // gone meanwhile
		}
		if fi.IsDir() && (os.SameFile(fi, made) || slices.ContainsFunc(onPath, func(p fs.FileInfo) bool { return os.SameFile(p, fi) })) {
			return nil
		}
		return d.copyTree(ctx, from, to, fi, true, onPath, made)
	})
}
