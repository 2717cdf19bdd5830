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
		_, ctime := statTimes(st)
		return time.Unix(0, ctime.Nano())
	}
	return fi.ModTime()
}

// statTimes returns a stat's modification and change times.
func statTimes(st *syscall.Stat_t) (mtime, ctime syscall.Timespec) {
	return st.Mtimespec, st.Ctimespec
}
