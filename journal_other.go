//go:build !unix

package main

import "os"

// isJournal reports false: the journal is systemd's, on unix only.
func isJournal(string, *os.File) bool { return false }
