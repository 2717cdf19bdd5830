//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// isJournal reports whether f is the journal's stream, as systemd names
// it in JOURNAL_STREAM ("DEVICE:INODE"). The variable alone is not enough:
// a child of a service inherits it with its stderr redirected elsewhere.
func isJournal(stream string, f *os.File) bool {
	if stream == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && stream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
