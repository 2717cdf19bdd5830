//go:build !linux

package store

import (
	"io/fs"
	"os"
)

// entryInfo describes the entry name of the directory sub, without
// following a symlink: symlink says it is one, for the caller to follow
// through the root.
func entryInfo(sub *os.Root, _ *os.File, name string) (info Info, symlink bool, err error) {
	fi, err := sub.Lstat(name)
	switch {
	case err != nil:
		return Info{}, false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return Info{}, true, nil
	}
	info, err = infoOf(fi)
	return info, false, err
}
