package main

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxSendfile bounds one sendfile call, as Go's own net package does.
const maxSendfile = 4 << 20

// ioState is the read or the send in progress (see conn.read and
// sendSteadily): the serving goroutine does one at a time.
type ioState struct {
	p       []byte // a read: where to; a write: what is left to write
	left    int64  // a send: the bytes still to go
	written int64  // the bytes read, or sent
	err     error
	srcOff  *int64 // a sendfile: the offset to send from, nil: the file's own
	steps   int32  // calls of the step: none means it never began
	srcFD   int32  // a sendfile: the file's descriptor, else -1
	// queuedWhenFull is what the socket still held when it last filled,
	// or -1 (see drainedSince).
	queuedWhenFull int32
	sending        bool // a send, not a read
	more           bool // a write that more of the response follows (see conn.moreFollows)
}

// stepIO is the socket's callback for the read or the send in progress.
func (c *conn) stepIO(fd uintptr) bool {
	if c.io.sending {
		return c.sendStep(fd)
	}
	return c.readStep(fd)
}

// read reads into p from the socket. A read that finds nothing to read
// arms its deadline before it waits (see armRead); one that finds bytes
// reads no clock and moves no timer.
//
// A plain connection that has waited idleRelease for its next request
// gives the pages of p, fasthttp's read buffer with nothing in it, back to
// the kernel, then waits on until --idle-timeout. fasthttp keeps that
// buffer (16 KiB, of which a small request touches a page) for the
// connection's whole life when it streams request bodies; so an idle
// keep-alive connection costs a page less, 40 MB for 10,000 of them. A
// busy connection never waits that long, and an idle one pays a page
// fault when it wakes.
func (c *conn) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r := &c.io
	stale := false
	for {
		*r = ioState{p: p}
		err := c.raw.Read(c.step)
		if err == nil {
			err = r.err
		}
		switch {
		case err == nil || !isTimeout(err):
		case r.steps == 0 && !stale:
			// The deadline of an earlier wait had passed before this
			// read began: it is not this read's.
			stale = true
			if err := c.unsetRead(); err != nil {
				return 0, err
			}
			continue
		case c.releaseArmed:
			c.releaseIdle(p)
			if err := c.unsetRead(); err != nil {
				return 0, err
			}
			continue
		}
		n := int(r.written)
		r.p = nil
		return n, err
	}
}

// canReleaseIdle: idle connections give back their read buffer's pages
// (see conn.read).
const canReleaseIdle = true

// idleRelease is how long a connection waits for its next request before
// it gives back its read buffer's pages.
const idleRelease = 500 * time.Millisecond

// releaseIdle gives back the whole pages of p, into which nothing has
// been read, to the kernel; they read as zeros when next touched.
func (c *conn) releaseIdle(p []byte) {
	c.released, c.releaseArmed = true, false
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	first := (start+page-1)&^(page-1) - start
	last := (start+uintptr(len(p)))&^(page-1) - start
	if last > first {
		_ = syscall.Madvise(p[first:last], syscall.MADV_DONTNEED)
	}
}

func (c *conn) readStep(fd uintptr) bool {
	r := &c.io
	r.steps++
	for {
		n, err := syscall.Read(int(fd), r.p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if r.err = c.armRead(); r.err != nil {
				return true
			}
			return false // wait until readable, under the deadline
		case err != nil:
			r.err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", err)}
		case n == 0:
			r.err = io.EOF
		default:
			r.written = int64(n)
		}
		return true
	}
}

// sendSteadily moves the send prepared in c.sending to the connection,
// step by step, so that --write-timeout bounds a stall, not a transfer:
//
//   - a step that finds the socket full arms the write deadline,
//     --write-timeout from then, and waits; one that finds room arms
//     nothing;
//   - when the deadline passes while the socket is still full, the bytes
//     still queued in it (SIOCOUTQ) tell whether the client took any since
//     it filled. A large buffer (several MiB on a fast link) may take
//     longer than the timeout to drain to the point where the kernel
//     reports it writable again, even for a client that reads steadily.
//
// Only a client that took nothing for a whole --write-timeout is cut off.
func (c *conn) sendSteadily() (written int64, err error) {
	s := &c.io
	s.queuedWhenFull = -1
	for {
		s.steps = 0
		waitErr := c.raw.Write(c.step)
		switch {
		case s.err != nil:
			return s.written, s.err
		case waitErr == nil:
			return s.written, nil
		case !isTimeout(waitErr):
			return s.written, waitErr
		case s.steps > 0 && !c.drainedSince(&s.queuedWhenFull):
			return s.written, waitErr
		}
		// The client took bytes since the socket filled, or the deadline
		// was an earlier send's, passed before this one began: a fresh
		// one, and on.
		if err := c.armWrite(); err != nil {
			return s.written, err
		}
	}
}

func (c *conn) sendStep(fd uintptr) bool {
	s := &c.io
	s.steps++
	for s.left > 0 {
		var m int
		var err error
		switch {
		case s.srcFD >= 0:
			m, err = syscall.Sendfile(int(fd), int(s.srcFD), s.srcOff, int(min(s.left, maxSendfile)))
		case s.more:
			m, err = sendMore(int(fd), s.p[int64(len(s.p))-s.left:])
		default:
			m, err = syscall.Write(int(fd), s.p[int64(len(s.p))-s.left:])
		}
		if m > 0 {
			s.written += int64(m)
			s.left -= int64(m)
		}
		switch {
		case err == syscall.EAGAIN:
			queued, _ := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
			s.queuedWhenFull = int32(queued)
			if s.err = c.armWrite(); s.err != nil {
				return true
			}
			return false // wait until the socket drains, under the deadline
		case err == syscall.EINTR:
		case err != nil && s.srcFD >= 0:
			s.err = os.NewSyscallError("sendfile", err)
			return true
		case err != nil:
			s.err = &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", err)}
			return true
		case m == 0:
			s.err = io.ErrUnexpectedEOF // the source ended early
			return true
		}
	}
	return true
}

// sendFile sends n bytes of f from *off (nil: its current offset) with
// sendfile(2), steadily (see sendSteadily), and advances the offset.
// handled is false when the file cannot be sent this way and nothing
// was: the caller copies it.
func (c *conn) sendFile(f *os.File, off *int64, n int64) (written int64, handled bool, err error) {
	src, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	ctlErr := src.Control(func(srcFD uintptr) {
		c.io = ioState{sending: true, srcFD: int32(srcFD), srcOff: off, left: n}
		written, err = c.sendSteadily()
	})
	if err == nil {
		err = ctlErr
	}
	if written == 0 && errors.Is(err, syscall.EINVAL) {
		return 0, false, nil // not a file sendfile can read: let the caller copy
	}
	return written, true, err
}

// writeSteadily writes p whole, steadily (see sendSteadily).
func (c *conn) writeSteadily(p []byte) (int, error) {
	c.io = ioState{sending: true, p: p, srcFD: -1, left: int64(len(p)), more: c.moreFollows}
	c.moreFollows = false
	written, err := c.sendSteadily()
	c.io.p = nil
	return int(written), err
}

// sendMore writes p with MSG_MORE: the kernel holds a segment that is
// not full until a send without the flag, so that the response's parts
// reach the client in one delivery rather than one per write.
func sendMore(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), unix.MSG_MORE, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// drainedSince reports whether the socket's send queue is shorter than
// *queued, and records its current length there.
func (c *conn) drainedSince(queued *int32) bool {
	now := -1
	if err := c.raw.Control(func(fd uintptr) {
		now, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || now < 0 {
		return false
	}
	drained := *queued >= 0 && int32(now) < *queued
	*queued = int32(now)
	return drained
}
