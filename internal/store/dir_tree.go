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
	f, err := sub.Open(".")
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
	if err := d.copyTree(ctx, src, dst, srcInfo, recursive, nil); err != nil {
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
	if src == "." || dst == "." || src == dst || strings.HasPrefix(dst, src+"/") {
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

// copyTree copies src (described by info, symlinks followed) to dst,
// which does not exist. onPath holds the directories being copied above
// it, so that a symlink back up the tree is not followed round for ever.
func (d *Dir) copyTree(ctx context.Context, src, dst string, info fs.FileInfo, recursive bool, onPath []fs.FileInfo) error {
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
	onPath = append(onPath, info)
	return d.List(ctx, src, func(e Info) error {
		from, to := path.Join(src, e.Name), path.Join(dst, e.Name)
		fi, err := d.root.Stat(from)
		if err != nil {
			return nil // gone meanwhile
		}
		if fi.IsDir() && slices.ContainsFunc(onPath, func(p fs.FileInfo) bool { return os.SameFile(p, fi) }) {
			return nil
		}
		return d.copyTree(ctx, from, to, fi, true, onPath)
	})
}
