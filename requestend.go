package main

import (
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
)

// finish is the one place where a request ends. It runs once the answer
// has gone out: when the handler returns for an answer held in memory, and
// when fasthttp closes a streamed body (sentBody), after its last byte or
// the abort. It logs the request with its real start, its end and the
// body bytes actually sent, and settles what the connection keeps of the
// request's head. A request that was not parsed keeps nothing.
func (h *handler) finish(ctx *fasthttp.RequestCtx, parsed bool, sent int64) {
	e := ended{sent: sent}
	if h.log.timesRequests() {
		e.start, e.end = requestStart(ctx), time.Now()
	}
	if parsed {
		h.log.request(ctx, e)
	} else {
		h.log.unparsed(ctx, e)
	}
	var received int64
	if c, ok := connOf(ctx); ok {
		c.requestStart = 0 // the next read starts the next request
		c.lastEnd = monoOf(e.end)
		received = c.received - c.receivedAtEnd
		c.receivedAtEnd = c.received
	}
	if m := h.log.metrics; m != nil {
		m.request(ctx, parsed, e.elapsed(e.end), received, sent)
	}
	if parsed {
		boundKeptHead(ctx)
	} else {
		dropRequestState(ctx)
	}
}

// requestStart is when the request's first byte arrived. fasthttp's
// ctx.Time is set only once the head (and a first body byte) is in, and
// not at all for a request it refuses before the handler, where it still
// holds the previous request's time.
func requestStart(ctx *fasthttp.RequestCtx) time.Time {
	c, ok := connOf(ctx)
	switch {
	case !ok:
		return ctx.Time()
	case c.requestStart != 0:
		return timeOf(c.requestStart)
	case c.lastEnd != 0:
		// Pipelined: its bytes came with the previous request's, and it
		// waited for that one to end.
		return timeOf(c.lastEnd)
	}
	return ctx.ConnTime()
}

// inMemoryBodyBytes is what an answer held in memory sends of its body.
func inMemoryBodyBytes(ctx *fasthttp.RequestCtx) int64 {
	if ctx.Response.SkipBody || ctx.IsHead() {
		return 0
	}
	return int64(len(ctx.Response.Body()))
}

// sentBody is a streamed answer's body. It counts the bytes that go out,
// and when fasthttp closes it the request ends (see finish). conn.ReadFrom
// sends its file with sendfile where it can, and counts those bytes too.
// They are recycled once closed (fasthttp closes a body stream once, and
// lets it go), so that a file held open by the cache is served without an
// allocation.
type sentBody struct {
	r    io.ReadCloser
	left int64 // the answer's length, less what was sent: a range ends early
	sent int64
	h    *handler
	ctx  *fasthttp.RequestCtx
}

func (b *sentBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n, err := b.r.Read(p[:min(int64(len(p)), b.left)])
	b.moved(int64(n))
	return n, err
}

// moved counts n bytes sent.
func (b *sentBody) moved(n int64) {
	b.sent += n
	b.left -= n
}

var sentBodies = sync.Pool{New: func() any { return new(sentBody) }}

// streamBody makes r, of length bytes (-1: unknown, sent chunked), the
// answer's body, sent once the handler returns; the request ends when it
// is closed.
func (h *handler) streamBody(ctx *fasthttp.RequestCtx, r io.ReadCloser, length int64) *sentBody {
	b := sentBodies.Get().(*sentBody)
	*b = sentBody{r: r, left: length, h: h, ctx: ctx}
	if length < 0 {
		b.left = math.MaxInt64
	}
	ctx.SetBodyStream(b, int(length))
	return b
}

func (b *sentBody) Close() error {
	err := b.r.Close()
	b.h.finish(b.ctx, true, b.sent)
	*b = sentBody{}
	sentBodies.Put(b)
	return err
}

// file returns the body's file, for sendfile, and the offset to send
// from (nil: the file's own), or nil: a backend's body may offer one (see
// store.Object).
func (b *sentBody) file() (*os.File, *int64) { return store.FileOf(b.r) }

// streamedToFinish reports whether the request ends when its streamed body
// is closed rather than now.
func streamedToFinish(ctx *fasthttp.RequestCtx) bool {
	_, ok := ctx.Response.BodyStream().(*sentBody)
	return ok
}
