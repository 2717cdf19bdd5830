package main

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"
)

// What one request head may cost. fasthttp parses every header field into
// a slot of its own (56 bytes plus a copy of the name), keeps each slot's
// largest name and value for the connection's next request, and pools the
// whole context when the connection closes. A 16 KiB head of 3,900 empty
// fields cost about 400 KiB per connection that way, and a keep-alive
// connection could pile up more than a MiB with heads of 100 fields.
const (
	// maxHeaderFields is Apache's LimitRequestFields: more get 431.
	maxHeaderFields = 100
	// keptHeadBudget bounds the parsed-head state a connection keeps
	// between requests, so that an open connection holds well under 64 KiB
	// whatever its heads looked like. Past it the state is dropped, which
	// costs the next request a dozen allocations; a connection whose heads
	// are ordinary (a browser's, curl's) never gets there.
	keptHeadBudget = 16 << 10
	// headFieldCost estimates a field's slot and name copy.
	headFieldCost = 64
)

// readBufferSize is fasthttp's read buffer, which must hold a whole head:
// maxHeaderBytes rounded up to 20 KiB, a size Go allocates on page
// boundaries, so that an idle connection can give all of it back (see
// conn.read). At 16.5 KiB, half the buffers began mid-page, and the page
// holding the last request stayed. A head that fits in the buffer but is
// larger than maxHeaderBytes is refused all the same (see refusedHead).
const readBufferSize = 20 << 10

// writeBufferSize is fasthttp's write buffer (its default, named here):
// a response larger than it goes out in more than one write (see
// holdHeadForBody).
const writeBufferSize = 4 << 10

// headerReceived runs once a head is parsed, before fasthttp reads any of
// the body. It has fasthttp read no more than the body's first byte before
// the handler, under the deadline the head's end set (see conn.headRead):
// otherwise it reads up to 8 KiB so, which cut off slow but steady
// uploads. bodyReader then bounds each pause. A head that is refused (see
// refusedHead) is made bodiless and closing, so that serve refuses it at
// once, without waiting for a body or sending 100 Continue.
func headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if status, _ := refusedHead(h); status != 0 {
		h.SetContentLength(0) // also drops Transfer-Encoding
		h.Del(fasthttp.HeaderExpect)
		h.SetConnectionClose()
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: 1}
}

// refusedHead says why a parsed head is refused, with its status, or 0:
// a request line longer than maxHeaderBytes gets 414, a head longer than
// that or with more than maxHeaderFields fields 431. headerReceived makes
// such a head closing; serve asks again only for closing heads.
func refusedHead(h *fasthttp.RequestHeader) (status int, reason string) {
	// "METHOD SP target SP HTTP/1.1 CRLF", then the fields and a CRLF.
	line := len(h.Method()) + 1 + len(h.RequestURI()) + 1 + len("HTTP/1.1") + 2
	switch {
	case line > maxHeaderBytes:
		return fasthttp.StatusRequestURITooLong, "request line too long"
	case line+len(h.RawHeaders())+2 > maxHeaderBytes:
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "request header too large"
	case tooManyFields(h):
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "too many header fields"
	}
	return 0, ""
}

// tooManyFields reports whether a head has more than maxHeaderFields
// fields. It counts the lines of the head as received (Len would parse
// the cookies into yet another buffer).
func tooManyFields(h *fasthttp.RequestHeader) bool {
	raw := h.RawHeaders()
	if bytes.Count(raw, []byte{'\n'}) <= maxHeaderFields {
		return false
	}
	fields := 0
	for line := range bytes.SplitSeq(raw, []byte{'\n'}) {
		if len(bytes.TrimRight(line, "\r")) > 0 {
			fields++
		}
	}
	return fields > maxHeaderFields
}

// errHeadFields fails the read that brings a head's field past
// maxHeaderFields (see conn.headRead): requestError answers it with 431.
var errHeadFields = errors.New("too many header fields")

// headRead counts the lines of the head a read brought, and notes where
// the head ends: when that is not in the read that brought its first byte
// (first), a body that follows may pause --read-timeout from now before its
// first byte (bodyReader bounds the later pauses). It reports whether the
// head has more fields than maxHeaderFields: the read then fails, before
// fasthttp parses them. fasthttp parses every field into a slot of its
// own before headerReceived can refuse the head, and a flood of 16 KiB
// heads of 3,900 empty fields grew the server by 64 MiB that way.
func (c *conn) headRead(p []byte, first bool) (tooManyFields bool) {
	if !c.inHead {
		return false
	}
	// A blank line ends the head: CRLF or a bare LF after a line feed.
	// It may begin in an earlier read: then the head's last byte is
	// there, and none of this read's line feeds is the head's.
	end := bytes.Index(p, []byte("\n\r\n"))
	if end < 0 {
		end = bytes.Index(p, []byte("\n\n"))
	}
	if end >= 0 {
		end++ // the line feed that ends the last field
	}
	if !first && c.headEndsAcross(p) {
		end = 0
	}
	if end < 0 {
		c.headLines += int32(bytes.Count(p, []byte{'\n'}))
	} else {
		c.headLines += int32(bytes.Count(p[:end], []byte{'\n'}))
		c.inHead = false
		if !first {
			c.readWant = monoNow() + int64(c.timeouts.read)
		}
	}
	c.keepHeadTail(p)
	// The request line and maxHeaderFields fields end in as many LFs.
	return c.headLines > maxHeaderFields+1
}

// headEndsAcross reports whether a head's blank line begins in the last
// bytes of the head read before (headTail) and ends in p.
func (c *conn) headEndsAcross(p []byte) bool {
	var joint [6]byte
	n := copy(joint[:], c.headTail[:c.headTailLen])
	m := copy(joint[n:], p)
	j := joint[:n+m]
	for _, blank := range [][]byte{[]byte("\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(j, blank); i >= 0 && i < n && i+len(blank) > n {
			return true
		}
	}
	return false
}

// keepHeadTail keeps the last three bytes the head has brought so far,
// for headEndsAcross.
func (c *conn) keepHeadTail(p []byte) {
	if len(p) >= len(c.headTail) {
		c.headTailLen = uint8(copy(c.headTail[:], p[len(p)-len(c.headTail):]))
		return
	}
	keep := min(int(c.headTailLen), len(c.headTail)-len(p))
	copy(c.headTail[:], c.headTail[int(c.headTailLen)-keep:c.headTailLen])
	c.headTailLen = uint8(keep + copy(c.headTail[keep:], p))
}

// boundKeptHead runs when a request has been answered and logged. It
// estimates the parsed-head state the connection keeps, and drops that
// state once the estimate passes keptHeadBudget.
//
// fasthttp reuses that state: each field's slot keeps the largest name
// and value it held, and the URI's buffers their largest. So what a
// connection keeps grows with the largest heads it saw, not with their
// number: at most a slot per field of its longest list of fields, each
// holding no more than its longest head, and three copies of its longest
// request URI (as sent, as a path, decoded). A connection that sends the
// same small head again and again never drops, and never allocates again.
func boundKeptHead(ctx *fasthttp.RequestCtx) {
	raw := ctx.Request.Header.RawHeaders()
	seen := keptHead{
		fields: int32(bytes.Count(raw, []byte{'\n'})),
		head:   int32(len(raw)),
		uri:    int32(len(ctx.Request.Header.RequestURI())),
	}
	c, ok := connOf(ctx)
	if !ok { // not a TCP connection: judge each request alone
		if seen.cost() > keptHeadBudget {
			dropRequestState(ctx)
		}
		return
	}
	k := &c.keptHead
	k.fields, k.head, k.uri = max(k.fields, seen.fields), max(k.head, seen.head), max(k.uri, seen.uri)
	if k.cost() > keptHeadBudget {
		dropRequestState(ctx)
		*k = keptHead{}
	}
}

// keptHead is the largest of what a connection's heads held since its
// parsed state was last dropped (see boundKeptHead).
// A head fits in the read buffer, so its counts fit in an int32.
type keptHead struct{ fields, head, uri int32 }

// cost bounds the parsed state such heads leave.
func (k keptHead) cost() int {
	return int(k.fields)*(headFieldCost+int(k.head)) + 3*int(k.uri)
}

// dropRequestState lets the garbage collector have a request's parsed
// head, instead of fasthttp keeping it for the next request or in its
// pool. It runs after the request is logged. Of the request, fasthttp
// only reads whether it was a HEAD once the handler has returned (to
// skip the body), so that is settled first.
func dropRequestState(ctx *fasthttp.RequestCtx) {
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
	}
	ctx.Request.Header = fasthttp.RequestHeader{}
	*ctx.Request.URI() = fasthttp.URI{}
}
