package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// A closing connection drains what the client still sends for this
	// long, or this much, before the socket is closed (see conn.Close).
	lingerTimeout = 2 * time.Second
	lingerBytes   = 1 << 20
	// Where sendFile is not available, file bodies go out in chunks this
	// large, each with its own write deadline: a client must take one
	// chunk per --write-timeout (2 KiB/s at the default 30s).
	sendChunk = 64 << 10
)

// listener wraps each accepted TCP connection in a conn, and keeps
// accepting through errors that pass: fasthttp's Serve returns on any
// accept error but a timeout, which would end the server when a flood
// of connections exhausts the file descriptors.
type listener struct {
	net.Listener
	writeTimeout time.Duration
	log          *accessLog
}

// Accept backs off on errors that say the machine is out of something
// (descriptors, buffers, memory) or that one connection failed before
// it was accepted, as net/http does: 5 ms doubling to 1 s, logged once
// per episode. Any other error (the listener closed at shutdown) ends
// serving.
func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	failures := 0
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if failures > 0 {
				l.log.Printf("accepting connections again after %d failed attempts", failures)
			}
			if tc, ok := c.(*net.TCPConn); ok {
				return &conn{TCPConn: tc, writeTimeout: l.writeTimeout}, nil
			}
			return c, nil
		}
		if !acceptErrorPasses(err) {
			return nil, err
		}
		if failures == 0 {
			l.log.Printf("accept: %v; retrying with back-off", err)
		}
		failures++
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		time.Sleep(delay)
	}
}

// acceptErrorPasses reports whether an accept error is one to wait out.
func acceptErrorPasses(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// conn adds two things to a TCP connection that fasthttp does not do.
//
// Lingering close: closing a socket that still holds unread request bytes
// makes the kernel send RST, and a client that gets RST may discard the
// response it had already received (a 413 or 431 for a request we refused
// half-read). So Close shuts the write side, drains the read side for a
// moment, then closes (as nginx's lingering_close does).
//
// Progress deadlines for files: fasthttp sets one write deadline per
// response, which would cut off a slow but steady download of a large
// file. ReadFrom (the sendfile path) renews the deadline as bytes move, so
// --write-timeout bounds a stall, not a transfer.
type conn struct {
	*net.TCPConn
	writeTimeout time.Duration
	part         io.LimitedReader // reused for every chunk: no allocation
	keptHead     int              // see boundKeptHead
	sinceLF      int              // see Read
	// reading is set while the serving goroutine waits in Read: a Close
	// from elsewhere then comes from the shutdown closing an idle
	// keep-alive connection, which needs no lingering.
	reading atomic.Bool
	// requestStart is when the first byte of the request being served
	// arrived; lastEnd, when the previous one ended (see finish).
	requestStart, lastEnd time.Time
}

// Read reads from the connection and counts the bytes received since the
// last line feed (up to maxHeaderBytes). When a head does not fit
// fasthttp's buffer, which then holds exactly the request's first
// maxHeaderBytes, this tells a request line too long for it (414) from
// headers too large (431); fasthttp's error is the same for both.
func (c *conn) Read(p []byte) (int, error) {
	c.reading.Store(true)
	n, err := c.TCPConn.Read(p)
	c.reading.Store(false)
	if n > 0 && c.requestStart.IsZero() {
		c.requestStart = time.Now()
	}
	// Only the last maxHeaderBytes can matter; IndexByte is vectorised,
	// where a backward byte loop is not.
	tail := p[max(0, n-maxHeaderBytes):n]
	last := -1
	for i := bytes.IndexByte(tail, '\n'); i >= 0; i = bytes.IndexByte(tail[last+1:], '\n') {
		last += i + 1
	}
	if last >= 0 {
		c.sinceLF = len(tail) - last - 1
	} else {
		c.sinceLF = min(c.sinceLF+n, maxHeaderBytes)
	}
	return n, err
}

// requestLineTooLong reports whether the head fasthttp could not fit in
// its buffer has no line feed in it: its request line alone is too long.
// Two bytes of slack allow the empty line a client may send before a
// request.
func requestLineTooLong(ctx *fasthttp.RequestCtx) bool {
	c, ok := ctx.Conn().(*conn)
	return ok && c.sinceLF >= maxHeaderBytes-2
}

// ReadFrom sends a file body: r is fasthttp's *io.LimitedReader around
// the *os.File. Where the platform allows (sendFile), every system call
// that moves bytes renews the write deadline; elsewhere the file goes out
// in chunks, each with its own deadline.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return c.TCPConn.ReadFrom(r)
	}
	body, ok := lr.R.(*sentBody)
	if !ok || body.file() == nil {
		return c.TCPConn.ReadFrom(r)
	}
	f := body.file()
	if n, handled, err := c.sendFile(f, lr.N); handled {
		lr.N -= n
		body.moved(n)
		return n, err
	}
	var total int64
	for lr.N > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return total, err
		}
		c.part = io.LimitedReader{R: f, N: min(lr.N, sendChunk)}
		want := c.part.N
		n, err := c.TCPConn.ReadFrom(&c.part)
		c.part.R = nil
		total += n
		lr.N -= n
		body.moved(n)
		if err == nil && n < want {
			// The file shrank under us: the response promised more, so
			// the connection must fail rather than look complete.
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close closes the connection after a lingering drain (see conn), except
// an idle one: its client has sent nothing since our last answer, and
// the goroutine waiting for its next request must end now, not after the
// linger, or a shutdown would wait for idle clients.
func (c *conn) Close() error {
	if c.reading.Load() {
		return c.TCPConn.Close()
	}
	if err := c.CloseWrite(); err != nil {
		return c.TCPConn.Close()
	}
	go c.linger()
	return nil
}

func (c *conn) linger() {
	_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
	_ = c.TCPConn.Close()
}
