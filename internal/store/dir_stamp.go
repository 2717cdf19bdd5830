//go:build linux || darwin || freebsd

package store

import "syscall"

// fstatStamp describes the open file fd (see fileStamp), without an
// allocation.
func fstatStamp(fd int) (fileStamp, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fileStamp{}, false
	}
	mtime, ctime := statTimes(&st)
	return fileStamp{
		size:  st.Size,
		mtime: mtime.Nano(),
		ctime: ctime.Nano(),
		ino:   uint64(st.Ino), //nolint:unconvert // uint32 on some platforms
	}, true
}
