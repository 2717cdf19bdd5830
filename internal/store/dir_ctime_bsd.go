//go:build darwin || freebsd

package store

import (
	"io/fs"
	"syscall"
	"time"
)

// changeTime returns the file's status change time (ctime), which every
// write sets and no system call can set back.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctimespec.Sec, st.Ctimespec.Nsec)
	}
	return fi.ModTime()
}
