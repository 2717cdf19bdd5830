package main

import (
	"bytes"

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

// headerReceived runs once a head is parsed, before fasthttp reads any of
// the body. It has fasthttp read no more than the body's first byte before
// the handler, under the deadline the head's end set (see conn.headRead):
// otherwise it reads up to 8 KiB so, which cut off slow but steady
// uploads. bodyReader then bounds each pause. A head with too many fields
// is made bodiless and closing, so that serve refuses it at once, without
// waiting for a body or sending 100 Continue.
func headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if tooManyFields(h) {
		h.SetContentLength(0) // also drops Transfer-Encoding
		h.Del(fasthttp.HeaderExpect)
		h.SetConnectionClose()
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: 1}
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
		fields: bytes.Count(raw, []byte{'\n'}),
		head:   len(raw),
		uri:    len(ctx.Request.Header.RequestURI()),
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
type keptHead struct{ fields, head, uri int }

// cost bounds the parsed state such heads leave.
func (k keptHead) cost() int { return k.fields*(headFieldCost+k.head) + 3*k.uri }

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
