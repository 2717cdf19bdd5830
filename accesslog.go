package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	logFlushInterval = 100 * time.Millisecond // how stale a tail -f may be
	logFlushSize     = 64 << 10               // pending bytes that wake the flusher early
	logMaxPending    = 1 << 20                // pending bytes at most; a line beyond is dropped
	logMaxMessage    = 4 << 10                // escaped bytes of one Printf message at most
	logMaxContext    = 1 << 10                // and of the request it is about
	logCloseWait     = 2 * time.Second        // how long Close waits for a stuck writer
	logTimeFormat    = "2006-01-02T15:04:05.000Z07:00"
)

// accessLog writes one line per request, and fasthttp's and our error
// messages, to w. A request never waits for the log: lines are appended to
// a bounded buffer under a short lock, and only the background flusher
// writes to w (a pipe to journald can block, or its reader can be gone).
// When the buffer is full, or a write fails, lines are dropped and counted;
// the count is logged after the next write that succeeds.
//
// Every byte of a line that is not printable ASCII is escaped (see
// appendSafe), so no request can forge or hide a log record, and no line
// carries a request header value. With quiet, neither access lines nor
// per-request error messages are logged: only the server's own messages
// and a handler's panic.
type accessLog struct {
	w     io.Writer
	quiet bool
	style logStyle
	// metrics, when not nil, count every request the log sees end: both
	// are fed by handler.finish, which reaches them through the log. Set
	// before the server starts; never changed after.
	metrics *serverMetrics

	mu      sync.Mutex
	buf     []byte // pending lines, at most logMaxPending bytes
	dropped int    // lines dropped and not yet reported
	closed  bool

	kick chan struct{} // wakes the flusher early; never blocks a sender
	stop chan struct{}
	done chan struct{}

	// Owned by the flusher goroutine.
	spare []byte
	torn  bool // a failed write ended mid-line; start the next on a new line

	closeOnce sync.Once
	closeErr  error
}

// logStyle is how lines are written.
type logStyle struct {
	// json: one JSON object a line (--log-format json), for pipelines.
	json bool
	// untimed: text lines carry no timestamp, because the journal stamps
	// every line it receives (JOURNAL_STREAM is set).
	untimed bool
}

// newAccessLog returns a text log with timestamps: see newStyledLog.
func newAccessLog(w io.Writer, quiet bool) *accessLog {
	return newStyledLog(w, quiet, logStyle{})
}

// newStyledLog returns a log writing to w in the given style, and starts
// its flusher; Close stops it.
func newStyledLog(w io.Writer, quiet bool, style logStyle) *accessLog {
	l := &accessLog{
		w:     w,
		quiet: quiet,
		style: style,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go l.flushLoop()
	return l
}

// ended is what is known of a request once its answer has gone out: see
// handler.finish, the one place that makes it.
type ended struct {
	start time.Time // the arrival of the request's first byte
	end   time.Time // after its answer's last byte, or the abort
	sent  int64     // body bytes actually sent
}

// elapsed is the time from the request's first byte to end, zero when
// its start is unknown.
func (e ended) elapsed(end time.Time) time.Duration {
	if e.start.IsZero() {
		return 0
	}
	return max(end.Sub(e.start), 0)
}

// request logs ctx's request: time, remote address, method, target,
// status, body bytes sent and the time from its first byte to its end.
func (l *accessLog) request(ctx *fasthttp.RequestCtx, e ended) { l.line(ctx, true, e) }

// timesRequests reports whether a request's start and end are wanted: by
// the access log, or by the metrics. Under --quiet without metrics, no
// request reads the clock for them.
func (l *accessLog) timesRequests() bool { return !l.quiet || l.metrics != nil }

// unparsed logs a request whose head fasthttp could not parse: it resets
// the header then, so method and target are unknown and logged as "-".
func (l *accessLog) unparsed(ctx *fasthttp.RequestCtx, e ended) { l.line(ctx, false, e) }

// line appends ctx's access line. It does not allocate (once the buffer
// has grown) and never waits for the writer.
func (l *accessLog) line(ctx *fasthttp.RequestCtx, parsed bool, e ended) {
	if l.quiet {
		return
	}
	now := e.end
	if now.IsZero() {
		now = time.Now()
	}
	elapsed := e.elapsed(now)
	size := e.sent

	l.mu.Lock()
	start := len(l.buf)
	var b []byte
	if l.style.json {
		b = appendJSONLine(l.buf, ctx, parsed, now, elapsed, size)
	} else {
		b = l.appendStamp(l.buf, now)
		b = appendAddr(b, ctx.RemoteAddr())
		b = append(b, ' ')
		if parsed {
			b = appendSafe(b, ctx.Method())
			b = append(b, ' ')
			b = appendSafe(b, ctx.Request.Header.RequestURI())
		} else {
			b = append(b, "- -"...)
		}
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, max(size, 0), 10)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(elapsed.Microseconds())/1000, 'f', 3, 64)
		b = append(b, "ms\n"...)
	}
	l.keepLocked(b, start)
	l.mu.Unlock()
}

// keepLocked makes b, which is l.buf with one line appended after start,
// the pending buffer, or drops that line if the buffer would pass its
// bound. It wakes the flusher when enough has piled up. l.mu is held.
func (l *accessLog) keepLocked(b []byte, start int) {
	if len(b) > logMaxPending || l.closed {
		b = b[:start]
		l.dropped++
	}
	l.buf = b
	if len(b) >= logFlushSize {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// ctxLoggerFormat is the format fasthttp's RequestCtx.Logger passes on:
// seconds since the connection was accepted (meaningless for a context
// not from a connection: 9223372036.855), ctx.String() (request id,
// addresses, method and the full URI, whose host comes from the Host
// header) and the message.
const ctxLoggerFormat = "%.3f %s - %s"

// connErrorFormat is the format of fasthttp's worker pool when serving a
// connection fails. The error can quote the request head, header values
// included, even with Server.SecureErrorLogMessage (for example "invalid
// header value %q", or the whole head when the request line has no
// version), so quoted text in it is not logged.
const connErrorFormat = "error when serving connection %q<->%q: %v"

// Printf logs a message; it implements fasthttp.Logger. Messages about a
// request or a connection (from RequestCtx.Logger and fasthttp's worker
// pool) are rewritten to carry no header values, and are not logged at
// all with quiet, but for a handler's panic (see recoverPanic): that is a
// bug in the server, which quiet must not hide. Every message is escaped
// and cut to logMaxMessage bytes (the request it is about, to
// logMaxContext).
func (l *accessLog) Printf(format string, args ...any) {
	now := time.Now()
	var prefix, msg string
	switch {
	case format == ctxLoggerFormat && len(args) == 3:
		msg = fmt.Sprint(args[2])
		if l.quiet && !strings.HasPrefix(msg, "panic: ") {
			return
		}
		id, _ := args[1].(string)
		prefix = requestOf(id)
	case format == connErrorFormat && len(args) == 3:
		if l.quiet {
			return
		}
		if remote, ok := args[1].(net.Addr); ok && remote != nil {
			prefix = remote.String()
		}
		prefix += " connection error"
		msg = unquoted(fmt.Sprint(args[2]))
	default:
		msg = fmt.Sprintf(format, args...)
	}

	l.mu.Lock()
	start := len(l.buf)
	b := l.appendMessage(l.buf, now, prefix, msg)
	l.keepLocked(b, start)
	l.mu.Unlock()
}

// requestOf turns fasthttp's ctx.String(), "#ID - local<->remote - METHOD
// scheme://host/target", into "remote METHOD /target": the host is the
// Host header's value, which logs do not carry. It returns "" for
// anything else.
func requestOf(s string) string {
	_, rest, ok := strings.Cut(s, " - ")
	if !ok {
		return ""
	}
	_, rest, ok = strings.Cut(rest, "<->")
	if !ok {
		return ""
	}
	remote, rest, ok := strings.Cut(rest, " - ")
	if !ok {
		return ""
	}
	method, uri, ok := strings.Cut(rest, " ")
	if !ok {
		return ""
	}
	if _, afterScheme, ok := strings.Cut(uri, "://"); ok {
		uri = ""
		if i := strings.IndexByte(afterScheme, '/'); i >= 0 {
			uri = afterScheme[i:]
		}
	}
	return remote + " " + method + " " + uri
}

// unquoted replaces each quoted string in an error's text (fasthttp quotes
// request bytes with %q) by "...". An unterminated quote ends the text.
func unquoted(s string) string {
	if strings.IndexByte(s, '"') < 0 {
		return s
	}
	var sb strings.Builder
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			sb.WriteString(s)
			return sb.String()
		}
		sb.WriteString(s[:i])
		sb.WriteString(`"..."`)
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			return sb.String()
		}
		s = s[i+len(q):]
	}
}

func (l *accessLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(logFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flush()
		case <-l.kick:
			l.flush()
		case <-l.stop:
			l.flush()
			return
		}
	}
}

// flush writes what has piled up, and then the count of lines dropped
// since the last report. Only the flusher calls it, so only the flusher
// waits for w; requests keep appending meanwhile, up to the bound. The
// lines of a write that fails are counted as dropped.
func (l *accessLog) flush() {
	l.mu.Lock()
	batch := l.buf
	l.buf = l.spare[:0]
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	l.spare = nil

	lines := bytes.Count(batch, []byte{'\n'})
	if dropped > 0 {
		batch = l.appendMessage(batch, time.Now(), "", fmt.Sprintf("httpbox: %d log lines dropped (stderr could not keep up)", dropped))
	}
	if len(batch) > 0 {
		out := batch
		if l.torn {
			out = append([]byte{'\n'}, batch...)
		}
		n, _ := l.w.Write(out)
		n = max(0, min(n, len(out)))
		if n == len(out) {
			l.torn = false
		} else {
			if n > 0 {
				l.torn = out[n-1] != '\n'
			}
			// The lines not written in full are dropped; the report, the
			// last line, was not written either, so its count carries over.
			lost := bytes.Count(out[n:], []byte{'\n'})
			if dropped > 0 {
				lost--
			}
			l.mu.Lock()
			l.dropped += dropped + min(max(lost, 0), lines)
			l.mu.Unlock()
		}
	}
	if cap(batch) <= 2*logMaxPending {
		l.spare = batch[:0]
	}
}

// Close writes every pending line and stops the flusher. If the writer
// is stuck, it gives up after logCloseWait, and says how many lines were
// lost.
func (l *accessLog) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		timer := time.NewTimer(logCloseWait)
		defer timer.Stop()
		select {
		case <-l.done:
		case <-timer.C:
		}
		l.mu.Lock()
		l.closed = true
		lost := l.dropped + bytes.Count(l.buf, []byte{'\n'})
		l.buf = l.buf[:0]
		l.dropped = 0
		l.mu.Unlock()
		if lost > 0 {
			l.closeErr = fmt.Errorf("log: %d lines not written", lost)
		}
	})
	return l.closeErr
}

// appendStamp begins a text line with its time, unless the journal
// stamps it.
func (l *accessLog) appendStamp(b []byte, t time.Time) []byte {
	if l.style.untimed {
		return b
	}
	b = t.AppendFormat(b, logTimeFormat)
	return append(b, ' ')
}

// appendMessage appends a message line: the server's own, or one about a
// request or connection (prefix). Both are escaped and capped.
func (l *accessLog) appendMessage(b []byte, t time.Time, prefix, msg string) []byte {
	if l.style.json {
		return appendJSONMessage(b, t, prefix, msg)
	}
	b = l.appendStamp(b, t)
	if prefix != "" {
		b = appendCapped(b, prefix, logMaxContext)
		b = append(b, ": "...)
	}
	b = appendCapped(b, msg, logMaxMessage)
	return append(b, '\n')
}

func appendAddr(b []byte, addr net.Addr) []byte {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.AddrPort().AppendTo(b)
	}
	return appendSafe(b, []byte(addr.String()))
}

const hexDigits = "0123456789abcdef"

// appendSafe appends s with every byte that is not printable ASCII written
// as \xHH, and the backslash as \\, so that a request cannot forge log
// lines (no CR, LF, NEL, U+2028, U+202E...) and the escaping can be
// undone.
func appendSafe(b, s []byte) []byte {
	for _, c := range s {
		b = appendSafeByte(b, c)
	}
	return b
}

func appendSafeByte(b []byte, c byte) []byte {
	switch {
	case c == '\\':
		return append(b, '\\', '\\')
	case c < 0x20 || c >= 0x7f:
		return append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
	default:
		return append(b, c)
	}
}

// appendCapped appends s as appendSafe does, but at most limit bytes of
// it, and says how much was cut.
func appendCapped(b []byte, s string, limit int) []byte {
	end := len(b) + limit
	for i := 0; i < len(s); i++ {
		c := s[i]
		n := 1
		if c == '\\' {
			n = 2
		} else if c < 0x20 || c >= 0x7f {
			n = 4
		}
		if len(b)+n > end {
			return fmt.Appendf(b, "... (%d more bytes)", len(s)-i)
		}
		b = appendSafeByte(b, c)
	}
	return b
}
