//go:build unix

package store

import (
	"io/fs"
	"syscall"
)

// inode returns the file's inode number, which tells apart two files that
// happen to share a size and a modification time.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // Ino is uint32 on some platforms
	}
	return 0
}
