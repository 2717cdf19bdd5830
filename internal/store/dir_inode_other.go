//go:build !unix

package store

import "io/fs"

// inode is 0 where the platform has no inode numbers; size and
// modification time still make the ETag.
func inode(fs.FileInfo) uint64 { return 0 }
