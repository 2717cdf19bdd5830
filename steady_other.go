//go:build !linux

package main

import (
	"os"
	"time"
)

// sendFile is Linux-only; elsewhere conn.ReadFrom sends files in chunks.
func (c *conn) sendFile(*os.File, int64) (int64, bool, error) { return 0, false, nil }

// writeSteadily writes p under one fresh write deadline: without
// SIOCOUTQ, a chunk must go out within --write-timeout.
func (c *conn) writeSteadily(p []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return 0, err
	}
	return c.TCPConn.Write(p)
}
