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
		return time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)) //nolint:unconvert // int32 on some platforms
	}
	return fi.ModTime()
}

// fstatStamp describes the open file fd (see fileStamp), without an
// allocation.
func fstatStamp(fd int) (fileStamp, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fileStamp{}, false
	}
	return fileStamp{
		size:  st.Size,
		mtime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)).UnixNano(), //nolint:unconvert // int32 on some platforms
		ctime: time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)).UnixNano(), //nolint:unconvert // int32 on some platforms
		ino:   uint64(st.Ino),                                                //nolint:unconvert // uint32 on some platforms
	}, true
}
