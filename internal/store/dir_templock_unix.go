//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// lockTemp takes an exclusive advisory lock on an upload's temporary file,
// held until the file is closed. Another process's sweep of stale
// temporary files (a second instance on the same root) leaves a locked
// file alone; a killed process's locks go with it. The lock is best
// effort: a file system without locks gets none.
func lockTemp(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB) })
	}
}

// lockedByAnother reports whether some process holds the lock of the
// temporary file name in dir, that is, whether it is a live upload.
func lockedByAnother(dir *os.Root, name string) bool {
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var lockErr error
	_ = rc.Control(func(fd uintptr) { lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB) })
	return errors.Is(lockErr, syscall.EWOULDBLOCK)
}
