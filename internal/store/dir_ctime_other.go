//go:build !linux && !darwin && !freebsd

package store

import (
	"io/fs"
	"time"
)

// changeTime falls back to the modification time where the platform has
// no status change time.
func changeTime(fi fs.FileInfo) time.Time { return fi.ModTime() }

// fstatStamp is not available here: no file is held open (see
// Cache.addOpen).
func fstatStamp(int) (fileStamp, bool) { return fileStamp{}, false }
