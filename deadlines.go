package main

import (
	"errors"
	"os"
	"time"
)

// Timeouts. fasthttp, given the timeouts, moves a connection's read
// deadline three times per request (the idle wait, the head, the body)
// and its write deadline once, each a clock read and a timer change
// under a lock: about 8% of the CPU of a small request. So the server
// gives fasthttp no timeout, and conn enforces them itself, giving the
// socket a deadline only when a read or a write must wait for the
// client: a head that arrives whole and an answer that fits in the
// socket's buffer never touch a timer.
//
//   - --read-timeout: a new connection's first request must arrive
//     whole within it of the connection's opening, any later head within
//     it of its first byte, and each pause of a body (bodyReader sets
//     those through SetReadDeadline) may last it;
//   - --idle-timeout: a keep-alive connection waits that long for the
//     next request's first byte;
//   - --write-timeout: a write waits that long for the client to take
//     bytes, renewed whenever it takes some (see sendSteadily).
type timeouts struct {
	read, idle, write time.Duration
	// slack is how late a read deadline may fire: a sixteenth of the
	// shortest of read and idle, at most maxDeadlineSlack. It lets a busy
	// keep-alive connection move its socket's deadline once per slack
	// rather than once per request (see armRead).
	slack time.Duration
}

// clockBase anchors the connections' times (see conn): nanoseconds since
// it on the monotonic clock take 8 bytes where a time.Time takes 24, and
// one clock read where time.Now makes two.
var clockBase = time.Now()

// monoNow is now, in nanoseconds since clockBase; never 0, which stands
// for unset.
func monoNow() int64 { return max(1, int64(time.Since(clockBase))) }

// monoOf is t in nanoseconds since clockBase, or 0 for the zero time. A
// time past maxTimeout from clockBase counts as that, so that adding a
// deadline's slack cannot overflow.
func monoOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return min(max(1, int64(t.Sub(clockBase))), int64(maxTimeout))
}

// timeOf is the time of mono, nanoseconds since clockBase.
func timeOf(mono int64) time.Time { return clockBase.Add(time.Duration(mono)) }

// maxTimeout is the longest timeout kept (146 years); longer ones are
// cut to it (see newTimeouts).
const maxTimeout = time.Duration(1 << 62)

// maxDeadlineSlack bounds timeouts.slack.
const maxDeadlineSlack = 250 * time.Millisecond

func newTimeouts(read, idle, write time.Duration) timeouts {
	// Deadlines are monoNow plus a timeout: one of 146 years or more
	// would overflow it into the past.
	read, idle, write = min(read, maxTimeout), min(idle, maxTimeout), min(write, maxTimeout)
	slack := maxDeadlineSlack
	for _, t := range []time.Duration{read, idle} {
		if t > 0 {
			slack = min(slack, t/16)
		}
	}
	return timeouts{read: read, idle: idle, write: write, slack: slack}
}

// SetReadDeadline sets the deadline of the reads of the request being
// served (bodyReader bounds each pause of a body with it); a read uses it
// only when it must wait (see armRead). Between requests, the idle
// deadline rules instead.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.readWant = monoOf(t)
	return nil
}

// SetDeadline sets both deadlines, the read one as SetReadDeadline does.
func (c *conn) SetDeadline(t time.Time) error {
	c.readWant = monoOf(t)
	return c.TCPConn.SetWriteDeadline(t)
}

// readDeadline is the deadline of a read that must wait: for the first
// request of the connection, its opening plus --read-timeout; for a later
// one, --idle-timeout after the wait began, or, on a plain connection that
// has not yet given back its read buffer, idleRelease after now (see
// conn.read); within a request, the one it was given (see requestRead and
// SetReadDeadline).
func (c *conn) readDeadline() int64 {
	switch {
	case c.requestStart != 0 && c.readWant != 0:
		return c.readWant
	case c.requestStart != 0:
		return monoNow() + int64(c.timeouts.read)
	case c.requests == 0:
		return c.opened + int64(c.timeouts.read)
	}
	now := monoNow()
	if c.idleSince == 0 {
		c.idleSince = now
	}
	c.releaseArmed = canReleaseIdle && !c.underTLS && !c.released && c.timeouts.idle > 2*idleRelease
	if c.releaseArmed {
		return now + int64(idleRelease)
	}
	return c.idleSince + int64(c.timeouts.idle)
}

// armRead gives the socket the deadline of a read that must wait, unless
// the one it has fires at most timeouts.slack later: it then keeps that
// one. When it moves the socket's deadline, it moves it slack past the
// one wanted, so that the next waits of a busy connection, whose
// deadlines are a little later each, still find theirs within it. A
// deadline so fires up to slack late, never early.
func (c *conn) armRead() error {
	want, set, slack := c.readDeadline(), c.readSet, int64(c.timeouts.slack)
	if set != 0 && set >= want && set <= want+slack {
		return nil
	}
	want += slack
	if err := c.TCPConn.SetReadDeadline(timeOf(want)); err != nil {
		return err
	}
	c.readSet = want
	return nil
}

// unsetRead clears the socket's read deadline: one left from an earlier
// wait had passed before a read began, which the poller would report as
// that read's timeout.
func (c *conn) unsetRead() error {
	c.readSet = 0
	return c.TCPConn.SetReadDeadline(time.Time{})
}

// armWrite gives the socket the deadline of a write that must wait for
// the client: --write-timeout from now.
func (c *conn) armWrite() error {
	return c.TCPConn.SetWriteDeadline(timeOf(monoNow() + int64(c.timeouts.write)))
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
