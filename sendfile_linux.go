package main

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSendfile bounds one sendfile call, as Go's own net package does.
const maxSendfile = 4 << 20

// sendFile sends n bytes of f from its current offset with sendfile(2),
// so that --write-timeout bounds a stall, not a transfer:
//
//   - every call that moves bytes renews the write deadline;
//   - when the deadline passes while the socket buffer is full, the bytes
//     still queued in it (SIOCOUTQ) tell whether the client took any since
//     the buffer filled. A large buffer (several MiB on a fast link) may
//     take longer than the timeout to drain to the point where the kernel
//     reports it writable again, even for a client that reads steadily.
//
// Only a client that took nothing for a whole --write-timeout is cut off.
func (c *conn) sendFile(f *os.File, n int64) (written int64, handled bool, err error) {
	dst, err := c.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var sendErr, waitErr error
	queuedWhenFull := -1
	send := func(srcFD uintptr) func(uintptr) bool {
		return func(dstFD uintptr) bool {
			for written < n {
				m, err := syscall.Sendfile(int(dstFD), int(srcFD), nil, int(min(n-written, maxSendfile)))
				if m > 0 {
					written += int64(m)
					_ = c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
				}
				switch {
				case errors.Is(err, syscall.EAGAIN):
					queuedWhenFull, _ = unix.IoctlGetInt(int(dstFD), unix.SIOCOUTQ)
					return false // wait until the socket drains, under the deadline
				case errors.Is(err, syscall.EINTR):
				case err != nil:
					sendErr = os.NewSyscallError("sendfile", err)
					return true
				case m == 0:
					sendErr = io.ErrUnexpectedEOF // the file shrank under us
					return true
				}
			}
			return true
		}
	}
	ctlErr := src.Control(func(srcFD uintptr) {
		for {
			waitErr = dst.Write(send(srcFD))
			if !errors.Is(waitErr, os.ErrDeadlineExceeded) || !c.drainedSince(dst, &queuedWhenFull) {
				return
			}
			_ = c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		}
	})
	switch {
	case sendErr != nil:
	case waitErr != nil:
		sendErr = waitErr
	default:
		sendErr = ctlErr
	}
	if written == 0 && errors.Is(sendErr, syscall.EINVAL) {
		return 0, false, nil // not a file sendfile can read: let the caller copy
	}
	return written, true, sendErr
}

// drainedSince reports whether the socket's send queue is shorter than
// *queued, and records its current length there.
func (c *conn) drainedSince(raw syscall.RawConn, queued *int) bool {
	now := -1
	if err := raw.Control(func(fd uintptr) {
		now, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || now < 0 {
		return false
	}
	drained := *queued >= 0 && now < *queued
	*queued = now
	return drained
}
