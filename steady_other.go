//go:build !linux

package main

import (
	"os"
	"time"
)

// Elsewhere, without SIOCOUTQ and the raw socket steps of Linux, each
// read arms its deadline before it begins, and each write gets one fresh
// --write-timeout: a chunk must go out within it.
type ioState struct{}

func (c *conn) stepIO(uintptr) bool { return true }

// canReleaseIdle: only Linux gives back an idle connection's read buffer
// (see the Linux conn.read).
const canReleaseIdle = false

// idleRelease is unused here.
const idleRelease = 0

func (c *conn) read(p []byte) (int, error) {
	if err := c.armRead(); err != nil {
		return 0, err
	}
	n, err := c.TCPConn.Read(p)
	return max(n, 0), err
}

// sendFile is Linux-only; elsewhere conn.ReadFrom sends files in chunks.
func (c *conn) sendFile(*os.File, *int64, int64) (int64, bool, error) { return 0, false, nil }

func (c *conn) writeSteadily(p []byte) (int, error) {
	c.moreFollows = false // no MSG_MORE here
	if err := c.TCPConn.SetWriteDeadline(time.Now().Add(c.timeouts.write)); err != nil {
		return 0, err
	}
	return c.TCPConn.Write(p)
}
