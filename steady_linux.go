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

// sendSteadily moves n bytes to the connection, step by step, so that
// --write-timeout bounds a stall, not a transfer:
//
//   - every step that moves bytes renews the write deadline;
//   - when the deadline passes while the socket buffer is full, the bytes
//     still queued in it (SIOCOUTQ) tell whether the client took any since
//     the buffer filled. A large buffer (several MiB on a fast link) may
//     take longer than the timeout to drain to the point where the kernel
//     reports it writable again, even for a client that reads steadily.
//
// Only a client that took nothing for a whole --write-timeout is cut off.
// step moves at most the given number of bytes to the socket fd and says
// how many it moved; it may fail with EAGAIN when the socket is full.
func (c *conn) sendSteadily(dst syscall.RawConn, n int64, step func(fd int, max int64) (int, error)) (written int64, err error) {
	var stepErr error
	queuedWhenFull := -1
	send := func(fd uintptr) bool {
		for written < n {
			m, err := step(int(fd), n-written)
			if m > 0 {
				written += int64(m)
				_ = c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
			}
			switch {
			case errors.Is(err, syscall.EAGAIN):
				queuedWhenFull, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
				return false // wait until the socket drains, under the deadline
			case errors.Is(err, syscall.EINTR):
			case err != nil:
				stepErr = err
				return true
			case m == 0:
				stepErr = io.ErrUnexpectedEOF // the source ended early
				return true
			}
		}
		return true
	}
	for {
		waitErr := dst.Write(send)
		switch {
		case stepErr != nil:
			return written, stepErr
		case !errors.Is(waitErr, os.ErrDeadlineExceeded) || !c.drainedSince(dst, &queuedWhenFull):
			return written, waitErr
		}
		_ = c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
}

// sendFile sends n bytes of f from its current offset with sendfile(2),
// steadily (see sendSteadily). handled is false when the file cannot be
// sent this way and nothing was: the caller copies it.
func (c *conn) sendFile(f *os.File, n int64) (written int64, handled bool, err error) {
	dst, err := c.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	ctlErr := src.Control(func(srcFD uintptr) {
		written, err = c.sendSteadily(dst, n, func(fd int, left int64) (int, error) {
			m, err := syscall.Sendfile(fd, int(srcFD), nil, int(min(left, maxSendfile)))
			if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
				err = os.NewSyscallError("sendfile", err)
			}
			return max(m, 0), err
		})
	})
	if err == nil {
		err = ctlErr
	}
	if written == 0 && errors.Is(err, syscall.EINVAL) {
		return 0, false, nil // not a file sendfile can read: let the caller copy
	}
	return written, true, err
}

// writeSteadily writes p whole, steadily (see sendSteadily): the chunks
// of bodies that are not files.
func (c *conn) writeSteadily(p []byte) (int, error) {
	dst, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	written, err := c.sendSteadily(dst, int64(len(p)), func(fd int, left int64) (int, error) {
		m, err := syscall.Write(fd, p[int64(len(p))-left:])
		if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
			err = os.NewSyscallError("write", err)
		}
		return max(m, 0), err
	})
	return int(written), err
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
