//go:build !unix

package store

import "os"

// lockTemp does nothing where there are no advisory locks.
func lockTemp(*os.File) {}

// lockedByAnother cannot tell without advisory locks: only this process's
// own uploads are known to be live.
func lockedByAnother(*os.Root, string) bool { return false }
