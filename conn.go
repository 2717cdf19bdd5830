package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
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
	timeouts  timeouts
	log       *accessLog
	conns     *connSet    // shared by all the listeners of a server
	tls       *tls.Config // nil for plain HTTP
	closeOnce sync.Once
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
				// Our conn stays under TLS, so that accounting, the
				// lingering close and steady writes still apply.
				ours, err := newConn(tc, &l.timeouts, l.conns, l.tls != nil)
				if err != nil {
					_ = tc.Close()
					continue
				}
				l.conns.add(ours)
				if l.tls != nil {
					return &tlsConn{Conn: tls.Server(ours, l.tls), under: ours}, nil
				}
				return ours, nil
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

// Close closes the listener; once every listener of the set is closed
// (the shutdown began), no new connection can join it.
func (l *listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(l.conns.listenerClosed)
	return err
}

// connSet is what the listeners of a server know of their connections:
// the open ones, so that a shutdown can close those waiting for a
// request (fasthttp counts a new connection idle only 5 s after it opens,
// so its own sweep skips a client that connected and sent nothing yet),
// and how many closed ones still hold their socket for a lingering drain
// (see conn.Close), which fasthttp no longer counts against Concurrency.
type connSet struct {
	mu              sync.Mutex
	open            map[*conn]struct{}
	listeners       int           // not yet closed
	listenersClosed chan struct{} // closed when listeners reaches 0
	lingering       atomic.Int64
	maxLingering    int64
}

// newConnSet returns the set for listeners listeners, letting at most
// maxLingering closed connections linger at once.
func newConnSet(listeners, maxLingering int) *connSet {
	s := &connSet{
		open:            make(map[*conn]struct{}),
		listeners:       listeners,
		listenersClosed: make(chan struct{}),
		maxLingering:    int64(maxLingering),
	}
	if listeners == 0 {
		close(s.listenersClosed)
	}
	return s
}

func (s *connSet) add(c *conn) *conn {
	s.mu.Lock()
	s.open[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// openCount is the number of open connections: served, or waiting for a
// request.
func (s *connSet) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

func (s *connSet) remove(c *conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
}

func (s *connSet) listenerClosed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners--; s.listeners == 0 {
		close(s.listenersClosed)
	}
}

// closeWaiting closes every connection whose serving goroutine waits for
// a request to begin (see conn.waiting): a new connection that has sent
// nothing, or a keep-alive one between requests. It returns how many it
// closed.
func (s *connSet) closeWaiting() int {
	var waiting []*conn
	s.mu.Lock()
	for c := range s.open {
		if c.waiting.Load() {
			waiting = append(waiting, c)
		}
	}
	s.mu.Unlock()
	// Close takes s.mu to leave the set.
	for _, c := range waiting {
		_ = c.Close()
	}
	return len(waiting)
}

// closeWaitingUntil closes, once every listener is closed and then every
// 100 ms until done is closed, the connections waiting for a request: a
// keep-alive connection becomes one when the request it is serving ends.
func (s *connSet) closeWaitingUntil(done <-chan struct{}) {
	select {
	case <-s.listenersClosed:
	case <-done:
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeWaiting()
		select {
		case <-tick.C:
		case <-done:
			return
		}
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

// conn adds three things to a TCP connection that fasthttp does not do.
//
// Timeouts: conn enforces --read-timeout, --idle-timeout and
// --write-timeout itself, arming a deadline only for a read or write that
// must wait (see timeouts). A write's deadline is renewed as bytes move,
// so --write-timeout bounds a stall, not a transfer.
//
// Lingering close: closing a socket that still holds unread request bytes
// makes the kernel send RST, and a client that gets RST may discard the
// response it had already received (a 413 or 431 for a request we refused
// half-read). So Close shuts the write side, drains the read side for a
// moment, then closes (as nginx's lingering_close does). A lingering
// socket still holds its descriptor, outside fasthttp's Concurrency, so
// their number is bounded (connSet.maxLingering, see connectionLimit);
// past the bound a connection closes at once.
//
// Request bookkeeping: when each request starts, and what each receives,
// for the log and the metrics.
//
// An idle keep-alive connection costs its conn too, so the fields are
// packed: times are nanoseconds on the monotonic clock (see monoNow), the
// read and the send in progress share one state, and the whole fits in a
// 256-byte allocation (it took 512 with time.Time fields and a state
// each).
type conn struct {
	*net.TCPConn
	raw      syscall.RawConn // the socket, for reads and writes that arm their own deadlines
	timeouts *timeouts       // the listener's
	set      *connSet
	// step is the socket's callback for the read or send in progress
	// (see stepIO): bound once, in newConn, as a closure per call would
	// be an allocation per read and write.
	step func(fd uintptr) bool
	// The times below are monoNow's, 0 when unset. The serving goroutine
	// alone uses them.
	//
	// requestStart is when the first byte of the request being served
	// arrived, 0 between requests; lastEnd, when the previous one ended
	// (see finish). idleSince is when the wait for the next request
	// began, 0 within a request. readWant is the deadline of the reads of
	// the request being served, readSet the one the socket has (see
	// armRead).
	opened, requestStart, lastEnd, idleSince, readWant, readSet int64
	// received counts the bytes read, receivedAtEnd their count when the
	// previous request ended: the metrics charge the difference to the
	// request that ends (see finish). The serving goroutine alone uses
	// them.
	received, receivedAtEnd int64
	requests                int      // the requests begun
	keptHead                keptHead // see boundKeptHead
	sinceLF                 int32    // see requestRead
	headLines               int32    // line feeds of the head so far (see headRead)
	headTail                [3]byte  // the head's last bytes so far (see headEndsAcross)
	headTailLen             uint8
	// waiting is set while the serving goroutine waits in Read with no
	// byte of a request received yet: the connection is new, or a
	// keep-alive one between requests. A Close from elsewhere then comes
	// from the shutdown closing it, which needs no lingering. It is
	// written by the serving goroutine only, and read from any.
	waiting atomic.Bool
	closed  atomic.Bool // Close was called
	// underTLS: Read reads TLS records, and tlsConn.Read does the
	// request's bookkeeping on what they carry.
	underTLS bool
	// inHead is set while a head has begun and not ended (see headRead).
	// releaseArmed says the idle wait's deadline is the one that gives
	// back the read buffer, released that it was given back (see
	// conn.read). moreFollows: the next write is not the last of its
	// response (see holdHeadForBody). The serving goroutine alone uses
	// them.
	inHead, releaseArmed, released, moreFollows bool
	// io is the read or the send in progress.
	io ioState
}

// newConn wraps tc, just accepted, with the server's timeouts.
func newConn(tc *net.TCPConn, t *timeouts, set *connSet, underTLS bool) (*conn, error) {
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &conn{TCPConn: tc, raw: raw, timeouts: t, opened: monoNow(), set: set, underTLS: underTLS}
	c.step = c.stepIO
	return c, nil
}

// Read reads from the connection. On a plain connection, what it reads
// is the request (see requestRead); under TLS it is records, and
// tlsConn.Read does that bookkeeping on what they carry.
func (c *conn) Read(p []byte) (int, error) {
	if c.underTLS {
		n, err := c.read(p)
		c.received += int64(n)
		return n, err
	}
	between := c.beforeRequestRead()
	n, err := c.read(p)
	c.received += int64(n)
	if c.requestRead(p[:n], between) {
		return 0, errHeadFields
	}
	return n, err
}

// beforeRequestRead marks the connection waiting when no byte of a request
// has been received yet (see conn), and says so for requestRead.
func (c *conn) beforeRequestRead() (between bool) {
	between = c.requestStart == 0
	if between {
		c.waiting.Store(true)
	}
	return between
}

// requestRead notes p, just read of a request. Its first byte starts the
// request and the head's deadline; the head is followed until it ends (see
// headRead), and requestRead reports whether it has too many fields. The
// bytes since the last line feed are counted (up to readBufferSize): when
// a head does not fit fasthttp's buffer, which then holds exactly the
// request's first readBufferSize, this tells a request line too long for
// it (414) from headers too large (431); fasthttp's error is the same for
// both.
func (c *conn) requestRead(p []byte, between bool) (tooManyFields bool) {
	n := len(p)
	first := between && n > 0
	if between {
		c.waiting.Store(false)
	}
	if first {
		now := monoNow()
		c.requestStart, c.readWant = now, now+int64(c.timeouts.read)
		c.requests++
		c.inHead, c.headLines, c.headTailLen = true, 0, 0
		c.idleSince, c.releaseArmed, c.released = 0, false, false
		c.moreFollows = false
	}
	tooManyFields = c.headRead(p, first)
	if n > 0 && p[n-1] == '\n' {
		c.sinceLF = 0 // most reads of a head end its last line
		return tooManyFields
	}
	// Only the last readBufferSize can matter; IndexByte is vectorised,
	// where a backward byte loop is not.
	tail := p[max(0, n-readBufferSize):n]
	last := -1
	for i := bytes.IndexByte(tail, '\n'); i >= 0; i = bytes.IndexByte(tail[last+1:], '\n') {
		last += i + 1
	}
	if last >= 0 {
		c.sinceLF = int32(len(tail) - last - 1)
	} else {
		c.sinceLF = int32(min(int(c.sinceLF)+n, readBufferSize))
	}
	return tooManyFields
}

// tlsConn is a TLS connection over our conn. Its Read sees the request
// that TLS records carry, so the request's start, the waiting mark and
// the line-feed count (see conn.requestRead) are about the request, not
// about the handshake or the records: a client that made its handshake
// and sent nothing waits for a request, as a fresh plain one does.
type tlsConn struct {
	*tls.Conn
	under *conn
}

func (t *tlsConn) Read(p []byte) (int, error) {
	between := t.under.beforeRequestRead()
	n, err := t.Conn.Read(p)
	if t.under.requestRead(p[:max(n, 0)], between) {
		return 0, errHeadFields
	}
	return n, err
}

// ReadFrom sends a streamed body in writes of sendChunk: through
// fasthttp's 4 KiB write buffer every TLS record carried 4 KiB (4,095
// writes for 16 MiB, and 0.39 of nginx's HTTPS throughput), where a
// record may carry 16 KiB. Each write still goes out steadily (see
// conn.Write). A body that ends before its length fails the connection,
// as on a plain one.
func (t *tlsConn) ReadFrom(r io.Reader) (int64, error) {
	buf := sendBuffers.Get().(*[sendChunk]byte)
	defer sendBuffers.Put(buf)
	// tls.Conn has no ReadFrom of its own: the struct only keeps
	// CopyBuffer from finding this one again.
	n, err := io.CopyBuffer(struct{ io.Writer }{t.Conn}, r, buf[:])
	if lr, ok := r.(*io.LimitedReader); ok && err == nil && lr.N > 0 {
		err = fmt.Errorf("body ended after %d bytes, %d short: %w", n, lr.N, io.ErrUnexpectedEOF)
	}
	return n, err
}

// requestLineTooLong reports whether the head fasthttp could not fit in
// its buffer has no line feed in it: its request line alone is too long.
// Two bytes of slack allow the empty line a client may send before a
// request.
func requestLineTooLong(ctx *fasthttp.RequestCtx) bool {
	c, ok := connOf(ctx)
	return ok && int(c.sinceLF) >= readBufferSize-2
}

// holdHeadForBody tells the connection that the response of ctx goes out
// in more than one write: its head (with the body's start), then the rest
// of the body, written or sent from a file. The first write then goes
// with MSG_MORE, and the kernel delivers it with the rest: in a profile
// of the 64 KiB file, which went out in two deliveries, the first (a
// head and 4 KiB) took a quarter of the CPU. The caller must be sure
// another write follows, or the head waits for a kernel timer (up to
// 200 ms). Under TLS it does nothing, and reports false.
func holdHeadForBody(ctx *fasthttp.RequestCtx) bool {
	c, ok := ctx.Conn().(*conn)
	if ok {
		c.moreFollows = true
	}
	return ok
}

// Write writes p whole, steadily (see sendSteadily): --write-timeout
// bounds each wait for the client to take bytes, not the answer. Under
// TLS, the records come this way too.
func (c *conn) Write(p []byte) (int, error) { return c.writeSteadily(p) }

// ReadFrom sends a streamed body: r is fasthttp's *io.LimitedReader,
// usually around a sentBody. A body with a file goes out with sendfile
// where the platform allows (sendFile); others are copied in chunks, each
// written steadily.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	lr, _ := r.(*io.LimitedReader)
	if lr == nil {
		lr = &io.LimitedReader{R: r, N: math.MaxInt64}
	}
	if body, ok := lr.R.(*sentBody); ok {
		if f, off := body.file(); f != nil {
			if n, handled, err := c.sendFile(f, off, lr.N); handled {
				lr.N -= n
				body.moved(n)
				return n, err
			}
		}
	}
	want := lr.N
	buf := sendBuffers.Get().(*[sendChunk]byte)
	defer sendBuffers.Put(buf)
	var total int64
	for lr.N > 0 {
		n, err := io.ReadFull(lr, buf[:min(lr.N, sendChunk)])
		if n > 0 {
			w, werr := c.writeSteadily(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case (err == io.EOF || err == io.ErrUnexpectedEOF) && want == math.MaxInt64:
			return total, nil // a body of unknown length ended
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			// The body ended early (a file that shrank, a store that
			// hung up): the response promised more, so the connection
			// must fail rather than look complete.
			return total, fmt.Errorf("body ended after %d of %d bytes: %w", total, want, io.ErrUnexpectedEOF)
		case err != nil:
			return total, err
		}
	}
	return total, nil
}

// sendBuffers recycle the chunks of bodies sent without sendfile.
var sendBuffers = sync.Pool{New: func() any { return new([sendChunk]byte) }}

// Close closes the connection after a lingering drain (see conn), except
// when it waits for a request: its client has sent nothing since our
// last answer (or at all), and the goroutine waiting for the next
// request must end now, not after the linger, or a shutdown would wait
// for idle clients. It also closes at once when maxLingering sockets
// already linger. Calls after the first return net.ErrClosed.
func (c *conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return &net.OpError{Op: "close", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
	}
	s := c.set
	if s == nil {
		return c.TCPConn.Close()
	}
	s.remove(c)
	if c.waiting.Load() {
		return c.TCPConn.Close()
	}
	if s.lingering.Add(1) > s.maxLingering {
		s.lingering.Add(-1)
		return c.TCPConn.Close()
	}
	if err := c.CloseWrite(); err != nil {
		s.lingering.Add(-1)
		return c.TCPConn.Close()
	}
	go c.linger()
	return nil
}

func (c *conn) linger() {
	_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
	_ = c.TCPConn.Close()
	c.set.lingering.Add(-1)
}
