package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	logFlushInterval = 100 * time.Millisecond // how stale a tail -f may be
	logFlushSize     = 64 << 10               // and how much may pile up meanwhile
	logTimeFormat    = "2006-01-02T15:04:05.000Z07:00"
)

// accessLog writes one line per request, and fasthttp's and our error
// messages, to w. Lines are appended to a buffer under a short lock and
// written in batches by a background flusher, so a request never waits for
// stderr (a pipe to journald can block) and never allocates for its line.
type accessLog struct {
	w     io.Writer
	quiet bool

	mu  sync.Mutex
	buf []byte

	writeMu sync.Mutex // held while a batch is written; owns spare
	spare   []byte

	stop chan struct{}
	done chan struct{}
}

func newAccessLog(w io.Writer, quiet bool) *accessLog {
	l := &accessLog{w: w, quiet: quiet, stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l
}

// request logs ctx's request: time, remote address, method, target,
// status, body bytes and time spent in the handler.
func (l *accessLog) request(ctx *fasthttp.RequestCtx) { l.line(ctx, true) }

// unparsed logs a request whose head fasthttp could not parse: it resets
// the header then, so method and target are unknown and logged as "-".
func (l *accessLog) unparsed(ctx *fasthttp.RequestCtx) { l.line(ctx, false) }

func (l *accessLog) line(ctx *fasthttp.RequestCtx, parsed bool) {
	if l.quiet {
		return
	}
	now := time.Now()
	var elapsed time.Duration
	if start := ctx.Time(); !start.IsZero() {
		elapsed = now.Sub(start)
	}
	size := 0
	if !ctx.Response.SkipBody && !ctx.IsHead() {
		if ctx.Response.IsBodyStream() {
			size = ctx.Response.Header.ContentLength()
		} else {
			size = len(ctx.Response.Body())
		}
	}

	l.mu.Lock()
	b := now.AppendFormat(l.buf, logTimeFormat)
	b = append(b, ' ')
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
	b = strconv.AppendInt(b, int64(max(size, 0)), 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, float64(elapsed.Microseconds())/1000, 'f', 3, 64)
	b = append(b, "ms\n"...)
	l.buf = b
	full := len(b) >= logFlushSize
	l.mu.Unlock()
	if full {
		l.flush()
	}
}

// Printf logs a message; it implements fasthttp.Logger.
func (l *accessLog) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.buf = time.Now().AppendFormat(l.buf, logTimeFormat)
	l.buf = append(l.buf, ' ')
	l.buf = appendSafe(l.buf, []byte(msg))
	l.buf = append(l.buf, '\n')
	l.mu.Unlock()
}

func (l *accessLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(logFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flush()
		case <-l.stop:
			l.flush()
			return
		}
	}
}

// flush writes what has piled up. Writing happens outside mu, so requests
// keep appending while a slow reader drains the previous batch.
func (l *accessLog) flush() {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	batch := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	if len(batch) > 0 {
		_, _ = l.w.Write(batch)
	}
	l.spare = batch
}

// Close flushes the log and stops the flusher.
func (l *accessLog) Close() error {
	close(l.stop)
	<-l.done
	return nil
}

func appendAddr(b []byte, addr net.Addr) []byte {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.AddrPort().AppendTo(b)
	}
	return append(b, addr.String()...)
}

// appendSafe appends s with control bytes replaced, so that a request
// cannot forge log lines.
func appendSafe(b, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}
