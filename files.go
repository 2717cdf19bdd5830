package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
)

var (
	errBadPath  = errors.New("bad path")
	errTooLarge = errors.New("request body too large")
	// errIncomplete: the body ended before its declared length or its last
	// chunk; the client gave up or was cut off.
	errIncomplete = fmt.Errorf("request body incomplete: %w", io.ErrUnexpectedEOF)
)

// storeContext is the context of every storage call. Not the request's:
// fasthttp cancels that one as soon as a shutdown starts, which would cut
// off the requests a graceful shutdown lets finish. A shutdown that times
// out cuts the uploads still running with the backend's Close.
var storeContext = context.Background()

// fileHandler serves /files/{path} from a storage backend.
type fileHandler struct {
	backend store.Backend
	// cache is backend when that is a store.Cache: it is given names
	// that need not outlive the call (see get).
	cache       *store.Cache
	h           *handler
	readTimeout time.Duration
}

func newFileHandler(backend store.Backend, h *handler, readTimeout time.Duration) *fileHandler {
	cache, _ := backend.(*store.Cache)
	return &fileHandler{backend: backend, cache: cache, h: h, readTimeout: readTimeout}
}

// resolvePath turns the raw /files/ tail of a request into a name relative
// to the root. The input is hostile: it is decoded once, and refused unless
// it is a clean, local, slash-separated path. The backend is the real
// wall; this check exists so that such requests get a clear 400. A tail
// without escapes comes back as the same string, unallocated.
func resolvePath(raw string) (string, error) {
	name, err := url.PathUnescape(raw)
	if err != nil || name == "" || name == "." {
		return "", errBadPath
	}
	if strings.ContainsAny(name, "\x00\\") || !cleanSegments(name) || !filepath.IsLocal(name) {
		return "", errBadPath
	}
	return name, nil
}

// cleanSegments reports whether name is slash-separated segments, none
// empty, "." or "..". Unlike fs.ValidPath it takes any bytes: a file
// whose name on disk is not UTF-8 is listed, so it can be fetched too.
func cleanSegments(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// name resolves the request's path to a name the backend can hold.
func (f *fileHandler) name(raw string) (string, error) {
	name, err := resolvePath(raw)
	if err == nil {
		err = f.backend.CheckName(name)
	}
	return name, err
}

// get serves GET and HEAD under /files/.
func (f *fileHandler) get(ctx *fasthttp.RequestCtx) {
	if f.h.refuseRead(ctx) {
		return
	}
	f.read(ctx, filesTail(ctx), filesPrefix)
}

// read answers a GET or HEAD of the tree path rawTail (still escaped),
// which linkBase (/files/ or /dav/) leads to: a file (small ones from
// memory, when the backend is cached; larger ones streamed), or a
// directory's listing.
func (f *fileHandler) read(ctx *fasthttp.RequestCtx, rawTail []byte, linkBase string) {
	if len(rawTail) == 0 {
		f.listing(ctx, ".", linkBase)
		return
	}
	var raw string
	if f.cache != nil && bytes.IndexByte(rawTail, '%') < 0 {
		// The request's own bytes, not a copy: resolvePath returns a
		// tail without escapes as it is, and the cache keeps no name it
		// is given. A hit thus allocates nothing.
		raw = unsafe.String(unsafe.SliceData(rawTail), len(rawTail))
	} else {
		raw = string(rawTail)
	}
	name, err := f.name(raw)
	if err != nil {
		// "dir/" names a directory: its listing, as for "dir".
		if dir, ok := strings.CutSuffix(raw, "/"); ok && errors.Is(err, errBadPath) {
			if name, dirErr := f.name(dir); dirErr == nil {
				f.listing(ctx, name, linkBase)
				return
			}
		}
		f.fail(ctx, opRead, err)
		return
	}
	var obj store.Object
	if ctx.IsHead() && f.cache == nil {
		// Only what the answer's headers need: no body is fetched.
		obj.Info, err = f.backend.Stat(storeContext, name)
		if err == nil && obj.IsDir {
			err = store.ErrIsDir
		}
	} else {
		obj, err = f.backend.Open(storeContext, name, requestedRange(&ctx.Request.Header))
	}
	switch {
	case errors.Is(err, store.ErrIsDir):
		f.listing(ctx, name, linkBase)
	case err != nil:
		f.fail(ctx, opRead, err)
	default:
		f.respond(ctx, name, obj)
	}
}

// listing answers with the listing of the directory name, or 404 under
// --no-listings.
func (f *fileHandler) listing(ctx *fasthttp.RequestCtx, name, linkBase string) {
	if f.h.noListings {
		f.fail(ctx, opRead, store.ErrIsDir)
		return
	}
	// The listing is streamed after the handler returns: it keeps a name
	// of its own, not the request's bytes.
	f.serveListing(ctx, strings.Clone(name), linkBase)
}

// respond answers a GET or HEAD of a file, applying conditional and
// range headers to obj's Info. obj's bytes are in memory (Data:
// immutable, sent without a copy) or in Body, which it closes or hands to
// fasthttp to close once sent; a HEAD has neither.
func (f *fileHandler) respond(ctx *fasthttp.RequestCtx, name string, obj store.Object) {
	closeBody := func() {
		if obj.Body != nil {
			obj.Body.Close()
		}
	}
	h := &ctx.Response.Header
	setHeader(h, fasthttp.HeaderAcceptRanges, "bytes")
	setHeader(h, fasthttp.HeaderETag, obj.ETag)
	h.SetLastModified(notAfterDate(obj.ModTime))
	// Every answer about the file says what it is, a 304 included: a
	// browser keeps the headers it gets with a 304 for the cached copy.
	setFileType(h, name)

	if notModified(&ctx.Request.Header, obj.ETag, obj.ModTime) {
		closeBody()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	start, length := int64(0), obj.Size
	ctx.SetStatusCode(fasthttp.StatusOK)
	rangeHeader := ctx.Request.Header.Peek(fasthttp.HeaderRange)
	if len(rangeHeader) > 0 && ifRangeMatches(&ctx.Request.Header, obj.ETag, obj.ModTime) {
		switch first, last, kind := parseRange(rangeHeader, obj.Size); kind {
		case rangeUnsatisfiable:
			closeBody()
			var cr [32]byte
			h.SetBytesV(fasthttp.HeaderContentRange, strconv.AppendInt(append(cr[:0], "bytes */"...), obj.Size, 10))
			writeError(ctx, fasthttp.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
			return
		case rangeOne:
			start, length = first, last-first+1
			h.SetContentRange(int(first), int(last), int(obj.Size))
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
		}
	}
	switch {
	case obj.Data != nil:
		ctx.Response.SetBodyRaw(obj.Data[start : start+length])
		if ctx.IsHead() {
			// fasthttp derives HEAD's Content-Length from the skipped body,
			// except when that body is empty.
			h.SetContentLength(int(length))
		} else if length > writeBufferSize {
			// It cannot fit in one write with its head.
			holdHeadForBody(ctx)
		}
	case ctx.IsHead() || obj.Body == nil:
		closeBody()
		h.SetContentLength(int(length))
		ctx.Response.SkipBody = true
	default:
		body, err := f.bodyAt(ctx, name, obj, start, length)
		if err != nil {
			// The error answers for no file: none of its headers go.
			for _, k := range []string{fasthttp.HeaderAcceptRanges, fasthttp.HeaderETag, fasthttp.HeaderLastModified, fasthttp.HeaderContentRange} {
				h.Del(k)
			}
			f.fail(ctx, opRead, err)
			return
		}
		// fasthttp closes the body once sent, which ends the request, and
		// conn uses sendfile where it can.
		sent := f.h.streamBody(ctx, body, length)
		if file, _ := sent.file(); file != nil && length > 0 && holdHeadForBody(ctx) {
			// The head goes out alone, so that sendfile sends all of the
			// body (through the write buffer, its first 4 KiB would be
			// read and copied), and is held for it. Under TLS it would
			// only cost a record of its own.
			ctx.Response.ImmediateHeaderFlush = true
		}
	}
}

// bodyAt returns obj's body positioned at start: as it is when the
// backend honoured the range asked for, seeked when it can be, or opened
// again for exactly [start, start+length) (a range the backend did not
// expect, such as the whole file after a stale If-Range). On error the
// body is closed.
func (f *fileHandler) bodyAt(ctx *fasthttp.RequestCtx, name string, obj store.Object, start, length int64) (io.ReadCloser, error) {
	covers := obj.Offset <= start && start+length <= obj.Offset+obj.Length
	if covers && obj.Offset == start {
		return obj.Body, nil
	}
	if seeker, ok := obj.Body.(io.Seeker); ok && covers {
		if _, err := seeker.Seek(start-obj.Offset, io.SeekCurrent); err != nil {
			obj.Body.Close()
			return nil, fmt.Errorf("seek %s: %w", name, err)
		}
		return obj.Body, nil
	}
	obj.Body.Close()
	again, err := f.backend.Open(storeContext, name, store.Range{Start: start, Length: length})
	switch {
	case err != nil:
		return nil, err
	case again.Offset != start || again.Length < length || again.ETag != obj.ETag:
		if again.Body != nil {
			again.Body.Close()
		}
		// Changed between the two opens: a retry gets a consistent answer.
		return nil, fmt.Errorf("open %s: %w: changed while being read", name, store.ErrUnavailable)
	}
	return again.Body, nil
}

// requestedRange is the hint given to the backend's Open: the single range
// a Range header asks for, if any. Whether it is served is decided once
// the file's size and validators are known (see respond).
func requestedRange(h *fasthttp.RequestHeader) store.Range {
	v := h.Peek(fasthttp.HeaderRange)
	if len(v) == 0 {
		return store.Whole
	}
	const unit = "bytes="
	if len(v) < len(unit) || !bytes.EqualFold(v[:len(unit)], []byte(unit)) || bytes.IndexByte(v, ',') >= 0 {
		return store.Whole
	}
	a, b, ok := bytes.Cut(v[len(unit):], []byte{'-'})
	if !ok {
		return store.Whole
	}
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	first, firstOK := parseDigits(a)
	last, lastOK := parseDigits(b)
	switch {
	case len(a) == 0 && lastOK && last > 0:
		return store.Range{Start: -last}
	case firstOK && len(b) == 0:
		return store.Range{Start: first, Length: -1}
	case firstOK && lastOK && last >= first:
		return store.Range{Start: first, Length: last - first + 1}
	}
	return store.Whole
}

func (f *fileHandler) post(ctx *fasthttp.RequestCtx) { f.write(ctx, fasthttp.MethodPost) }
func (f *fileHandler) put(ctx *fasthttp.RequestCtx)  { f.write(ctx, fasthttp.MethodPut) }

// write answers POST and PUT under /files/: the refusals, then the body.
func (f *fileHandler) write(ctx *fasthttp.RequestCtx, method string) {
	name, refused := f.h.refuseWrite(ctx)
	if refused != 0 {
		return
	}
	f.writeBody(ctx, name, method)
}

// writeBody stores the request body at name, atomically, once the
// refusals have passed (/files/ and /dav/ alike). POST always answers
// 201; PUT answers 201 when it created the file and 204 when it replaced
// one.
func (f *fileHandler) writeBody(ctx *fasthttp.RequestCtx, name, method string) {
	stream := ctx.RequestBodyStream()
	if stream == nil { // fasthttp read the (empty or tiny) body already
		stream = bytes.NewReader(ctx.Request.Body())
	}
	body := &bodyReader{
		ctx:      ctx,
		r:        stream,
		declared: int64(ctx.Request.Header.ContentLength()),
		limit:    f.h.maxBody,
		timeout:  f.readTimeout,
	}
	size := body.declared
	if size < 0 {
		size = -1
	}
	created, err := f.backend.Put(storeContext, name, body, size, writeCondOf(&ctx.Request.Header))
	if err != nil {
		f.failBody(ctx, body.err, err)
		return
	}
	if created || method == fasthttp.MethodPost {
		// The path as the client wrote it, escapes and all.
		ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, ctx.Request.URI().PathOriginal())
		ctx.SetStatusCode(fasthttp.StatusCreated)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// delete removes a file or an empty directory.
func (f *fileHandler) delete(ctx *fasthttp.RequestCtx) {
	name, refused := f.h.refuseWrite(ctx)
	if refused != 0 {
		return
	}
	err := f.backend.Delete(storeContext, name, false, writeCondOf(&ctx.Request.Header))
	if err != nil {
		f.fail(ctx, opDelete, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// failBody answers a write that failed. When reading the body failed, the
// client is at fault (too large, malformed chunks, too slow) and the
// connection is closed, since the rest of the body is still unread.
func (f *fileHandler) failBody(ctx *fasthttp.RequestCtx, bodyErr, err error) {
	var netErr net.Error
	switch {
	case bodyErr == nil:
		f.fail(ctx, opWrite, err)
		return
	case errors.Is(bodyErr, errTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large")
	case errors.Is(bodyErr, io.ErrUnexpectedEOF):
		writeError(ctx, fasthttp.StatusBadRequest, "request body incomplete")
	case errors.As(bodyErr, &netErr) && netErr.Timeout():
		writeError(ctx, fasthttp.StatusRequestTimeout, "request body too slow")
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "malformed request body")
	}
	ctx.SetConnectionClose()
}

type fileOp int

const (
	opRead fileOp = iota
	opWrite
	opDelete
)

// fail answers a failed file operation. This is the one place where
// errors become statuses; the client gets a fixed reason, the log gets the
// error itself when it is the server's problem.
func (f *fileHandler) fail(ctx *fasthttp.RequestCtx, op fileOp, err error) {
	status, reason := fileErrorStatus(op, err)
	if status >= fasthttp.StatusInternalServerError {
		ctx.Logger().Printf("%v", err)
	}
	writeError(ctx, status, reason)
}

// conflictReason is the one reason given for every 409.
const conflictReason = "conflicts with a file or directory on the server"

// fileErrorStatus maps an error of the storage backend (its sentinels) or
// of a request's body to a status and a short reason.
func fileErrorStatus(op fileOp, err error) (int, string) {
	is := func(target error) bool { return errors.Is(err, target) }
	switch {
	case is(errBadPath), is(store.ErrBadName):
		return fasthttp.StatusBadRequest, "bad path"
	case is(errTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "request body too large"
	case is(store.ErrOutside):
		return fasthttp.StatusForbidden, "path leaves the root"
	case is(store.ErrNoSpace):
		return fasthttp.StatusInsufficientStorage, "no space left on the server"
	case is(store.ErrPrecondition), is(store.ErrExist) && op == opWrite:
		return fasthttp.StatusPreconditionFailed, "precondition failed"
	case is(store.ErrUnavailable):
		return fasthttp.StatusServiceUnavailable, "storage unavailable"
	case is(store.ErrTimeout):
		return fasthttp.StatusGatewayTimeout, "storage timed out"
	case is(store.ErrUpstream):
		return fasthttp.StatusBadGateway, "storage failed"
	case op != opWrite && (is(store.ErrNotExist) || is(store.ErrNotDir)),
		op == opRead && is(store.ErrIsDir):
		return fasthttp.StatusNotFound, "not found"
	case is(store.ErrIsDir), is(store.ErrNotDir), is(store.ErrNotEmpty), is(store.ErrConflict), is(store.ErrExist), is(store.ErrNotExist):
		// A write creates what is missing, so a missing name while
		// writing is a parent that vanished or leads nowhere.
		return fasthttp.StatusConflict, conflictReason
	}
	return fasthttp.StatusInternalServerError, "internal server error"
}

// bodyReader reads a streamed request body, and is the one place that
// decides whether a body may reach the store:
//   - each read gets a fresh read deadline, so --read-timeout bounds a
//     pause, not a whole upload;
//   - past the body limit it fails with errTooLarge, whatever the framing;
//   - a body that ends before its Content-Length fails with errIncomplete:
//     a client that closes its side mid-upload has not sent a file, and
//     fasthttp reports that end as a plain io.EOF (a chunked body cut
//     before its last chunk already fails with io.ErrUnexpectedEOF);
//   - it keeps its error, so that a failed write can tell the client's
//     fault from ours.
type bodyReader struct {
	ctx      *fasthttp.RequestCtx
	r        io.Reader
	declared int64 // Content-Length, or negative for a chunked body
	limit    int64 // --max-body-size
	read     int64
	timeout  time.Duration
	err      error // the first error other than io.EOF
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// One byte past the limit is enough to know it is exceeded.
	if room := b.limit - b.read + 1; int64(len(p)) > room {
		p = p[:room]
	}
	_ = b.ctx.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.r.Read(p)
	b.read += int64(n)
	switch {
	case b.read > b.limit:
		err = errTooLarge
	case err == io.EOF && b.read < b.declared:
		err = errIncomplete
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// notModified reports whether a conditional GET may be answered with 304
// (RFC 9110 section 13.2.2: If-None-Match wins over If-Modified-Since).
func notModified(h *fasthttp.RequestHeader, etag string, modTime time.Time) bool {
	if match, present := etagHeaderMatches(h, fasthttp.HeaderIfNoneMatch, etag, false); present {
		return match
	}
	ims := h.Peek(fasthttp.HeaderIfModifiedSince)
	if len(ims) == 0 {
		return false
	}
	t, err := fasthttp.ParseHTTPDate(ims)
	return err == nil && !modTime.Truncate(time.Second).After(t)
}

// ifRangeMatches reports whether a Range may be honoured: true without
// If-Range, or when If-Range names the current strong ETag or exact date.
// A date is a strong validator only when the file is at least a second
// older than the answer (RFC 9110 section 8.8.2.2): a file replaced within
// the same second would keep its date, and a resumed download would
// stitch two versions together.
func ifRangeMatches(h *fasthttp.RequestHeader, etag string, modTime time.Time) bool {
	v := h.Peek(fasthttp.HeaderIfRange)
	if len(v) == 0 {
		return true
	}
	if v[0] == '"' {
		return string(v) == etag
	}
	t, err := fasthttp.ParseHTTPDate(v)
	return err == nil && t.Equal(modTime.Truncate(time.Second)) && time.Since(modTime) >= time.Second
}

// notAfterDate returns modTime, or the Date fasthttp will send when that is
// earlier: a Last-Modified later than the answer's Date is wrong (RFC 9110
// section 8.8.2.1), and fasthttp's Date is a cached one, up to a second and
// a half behind the clock. Only files changed in the last seconds pay for
// the check.
func notAfterDate(modTime time.Time) time.Time {
	if time.Since(modTime) > 3*time.Second {
		return modTime
	}
	if date, ok := fasthttpDate(); ok && modTime.After(date) {
		return date
	}
	return modTime
}

// fasthttpDate reads the Date fasthttp puts on answers now, from an empty
// response header it serializes on the stack.
func fasthttpDate() (time.Time, bool) {
	var h fasthttp.ResponseHeader
	var buf [128]byte
	b := h.AppendBytes(buf[:0])
	_, v, ok := bytes.Cut(b, []byte("\r\nDate: "))
	if !ok {
		return time.Time{}, false
	}
	v, _, _ = bytes.Cut(v, []byte("\r\n"))
	t, err := fasthttp.ParseHTTPDate(v)
	return t, err == nil
}

// etagListMatches reports whether a comma-separated list of entity tags
// (or *) names etag. The weak comparison (If-None-Match) ignores W/; the
// strong one (If-Match) never matches a weak tag (RFC 9110 section 8.8.3.2).
func etagListMatches(list []byte, etag string, strong bool) bool {
	for item := range bytes.SplitSeq(list, []byte{','}) {
		item = bytes.TrimSpace(item)
		if len(item) == 0 {
			continue // "a, , b": empty list elements are allowed
		}
		if string(item) == "*" {
			return true
		}
		if weak, ok := bytes.CutPrefix(item, []byte("W/")); ok {
			if strong {
				continue
			}
			item = weak
		}
		if string(item) == etag {
			return true
		}
	}
	return false
}

// etagHeaderMatches applies etagListMatches to every line of the header
// key: repeated lines of a list-valued header are one list (RFC 9110
// section 5.3). present reports whether the header was sent at all.
func etagHeaderMatches(h *fasthttp.RequestHeader, key string, etag string, strong bool) (match, present bool) {
	for _, list := range h.PeekAll(key) {
		present = true
		if etagListMatches(list, etag, strong) {
			return true, true
		}
	}
	return false, present
}

// preconditionFailed evaluates If-Match and If-None-Match of a write
// against what it would replace or delete; refuseWrite asks before the
// body is read, and the backend asks again as it commits (writeCondOf).
func (f *fileHandler) preconditionFailed(ctx *fasthttp.RequestCtx, name string) bool {
	h := &ctx.Request.Header
	if !hasPreconditions(h) {
		return false
	}
	cur, err := f.backend.Stat(storeContext, name)
	return preconditionsFail(h, cur, err == nil)
}

// preconditionsFail applies If-Match and If-None-Match to what a name
// holds (RFC 9110 section 13.2.2, If-Match first). A directory exists,
// with no entity tag: * matches it.
func preconditionsFail(h *fasthttp.RequestHeader, cur store.Info, exists bool) bool {
	if match, present := etagHeaderMatches(h, fasthttp.HeaderIfMatch, cur.ETag, true); present && (!exists || !match) {
		return true
	}
	match, _ := etagHeaderMatches(h, fasthttp.HeaderIfNoneMatch, cur.ETag, false)
	return exists && match
}

func hasPreconditions(h *fasthttp.RequestHeader) bool {
	return len(h.Peek(fasthttp.HeaderIfMatch)) > 0 || len(h.Peek(fasthttp.HeaderIfNoneMatch)) > 0
}

// writeCondOf is the precondition a write or delete carries to the
// backend. If-None-Match: * is also a create-only write, which the
// backend decides atomically; any condition is checked again at the
// commit.
func writeCondOf(h *fasthttp.RequestHeader) store.Cond {
	if !hasPreconditions(h) {
		return store.Cond{}
	}
	onlyIfAbsent, _ := etagHeaderMatches(h, fasthttp.HeaderIfNoneMatch, "", false)
	return store.Cond{
		IfAbsent: onlyIfAbsent, // only * matches no entity tag
		Holds:    func(cur store.Info, exists bool) bool { return !preconditionsFail(h, cur, exists) },
	}
}

type rangeKind int

const (
	rangeNone          rangeKind = iota // serve the whole body
	rangeOne                            // serve [first, last]
	rangeUnsatisfiable                  // 416
)

// parseRange interprets a Range header for a body of size bytes. Anything
// it does not understand (another unit, a malformed spec, several ranges)
// means the whole body, as RFC 9110 section 14.2 allows.
func parseRange(h []byte, size int64) (first, last int64, kind rangeKind) {
	const unit = "bytes="
	if len(h) < len(unit) || !bytes.EqualFold(h[:len(unit)], []byte(unit)) {
		return 0, 0, rangeNone
	}
	spec := h[len(unit):]
	if bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, rangeNone
	}
	a, b, ok := bytes.Cut(spec, []byte{'-'})
	if !ok {
		return 0, 0, rangeNone
	}
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	switch {
	case len(a) == 0: // suffix: the last b bytes
		n, ok := parseDigits(b)
		if !ok {
			return 0, 0, rangeNone
		}
		switch {
		case n == 0:
			return 0, 0, rangeUnsatisfiable
		case size == 0:
			// Satisfiable (RFC 9110 section 14.1.1), but no 206 can
			// describe zero bytes: the whole, empty, body.
			return 0, 0, rangeNone
		}
		return max(0, size-n), size - 1, rangeOne
	default:
		start, ok := parseDigits(a)
		if !ok {
			return 0, 0, rangeNone
		}
		end := size - 1
		if len(b) > 0 {
			if end, ok = parseDigits(b); !ok || end < start {
				return 0, 0, rangeNone
			}
		}
		if start >= size {
			return 0, 0, rangeUnsatisfiable
		}
		return start, min(end, size-1), rangeOne
	}
}

// parseDigits parses a non-empty run of ASCII digits, refusing signs,
// spaces and overflow.
func parseDigits(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
