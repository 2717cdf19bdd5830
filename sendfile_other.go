//go:build !linux

package main

import "os"

// sendFile is Linux-only; elsewhere conn.ReadFrom sends files in chunks.
func (c *conn) sendFile(*os.File, int64) (int64, bool, error) { return 0, false, nil }
