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
