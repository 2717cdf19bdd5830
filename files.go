package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// tempPrefix starts the name of every upload in progress. Such names are
// reserved: no request may read, write or delete them.
const tempPrefix = ".httpbox-tmp-"

// maxNameBytes is the longest name of one path segment (NAME_MAX of
// Linux's file systems).
const maxNameBytes = 255

var (
	errBadPath  = errors.New("bad path")
	errTooLarge = errors.New("request body too large")
	errNotFile  = errors.New("not a regular file")
	errConflict = errors.New("conflicts with what is on disk")
	// errExists: a create-only write (If-None-Match: *) found the name taken.
	errExists = errors.New("already exists")
	// errPrecondition: a conditional write's If-Match or If-None-Match no
	// longer held when it was to be committed.
	errPrecondition = errors.New("precondition failed")
	// errIncomplete: the body ended before its declared length or its last
	// chunk; the client gave up or was cut off.
	errIncomplete = fmt.Errorf("request body incomplete: %w", io.ErrUnexpectedEOF)
)

// store is the disk work behind /files. Names reaching it have passed
// resolvePath. rootStore (os.Root) is the one implementation today; an
// object store is meant to slot in beside it.
type store interface {
	// Open returns a regular file for reading and what identifies its
	// version; the caller closes it. Directories are errNotFile.
	Open(name string) (io.ReadSeekCloser, fileInfo, error)
	// Write replaces name with body atomically: readers see the old bytes
	// or the new, never a mix, and a failed write leaves nothing behind.
	// cond is checked atomically with the commit (see writeCond).
	Write(name string, body io.Reader, cond writeCond) (created bool, err error)
	// Remove deletes a file, a symlink (not its target) or an empty
	// directory, if cond holds.
	Remove(name string, cond writeCond) error
	// Stat describes the regular file Open would open.
	Stat(name string) (fileInfo, error)
}

// writeCond is a write's precondition, decided atomically with its
// commit: no other write through this server lands in between.
type writeCond struct {
	// onlyIfAbsent: create, or fail with errExists (If-None-Match: *).
	onlyIfAbsent bool
	// holds, when set, re-checks If-Match and If-None-Match; false fails
	// the write with errPrecondition.
	holds func() bool
}

// fileInfo is what conditional and range requests need to know of a file.
type fileInfo struct {
	size    int64
	modTime time.Time
	// changed is the status change time (ctime) where the platform has
	// one: utime can put a modification time back, but not this.
	changed time.Time
	id      uint64 // inode number where the platform has one
}

// appendETag appends a strong validator built from size, mtime, ctime and
// inode: any write (a rename of a new file through us, or a rewrite in
// place that restores the mtime) changes at least one.
func (fi fileInfo) appendETag(dst []byte) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, fi.size, 16)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, fi.modTime.UnixNano(), 16)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, fi.changed.UnixNano(), 16)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, fi.id, 16)
	return append(dst, '"')
}

// fileHandler serves /files/{path} from a store.
type fileHandler struct {
	store       store
	cache       *fileCache
	h           *handler
	readTimeout time.Duration
}

// resolvePath turns the raw /files/ tail of a request into a name relative
// to the root. The input is hostile: it is decoded once, and refused unless
// it is a clean, local, slash-separated path. os.Root is the real wall; this
// check exists so that such requests get a clear 400.
func resolvePath(raw string) (string, error) {
	name, err := url.PathUnescape(raw)
	if err != nil || name == "" || name == "." {
		return "", errBadPath
	}
	if strings.ContainsAny(name, "\x00\\") || !fs.ValidPath(name) || !filepath.IsLocal(name) {
		return "", errBadPath
	}
	for seg := range strings.SplitSeq(name, "/") {
		// Longer names than the file systems' NAME_MAX are refused here,
		// before anything is created on their way.
		if len(seg) > maxNameBytes || strings.HasPrefix(seg, tempPrefix) {
			return "", errBadPath
		}
	}
	return name, nil
}

// get serves a file (GET and HEAD): small files from memory (see
// fileCache), larger ones streamed from the store.
func (f *fileHandler) get(ctx *fasthttp.RequestCtx) {
	rawTail := filesTail(ctx)
	// The cache is keyed by names; a path without escapes is its own name
	// (an entry exists only for a name that passed resolvePath), so it is
	// looked up before anything is decoded or allocated.
	unescaped := bytes.IndexByte(rawTail, '%') < 0
	if unescaped {
		if e := f.cache.lookup(rawTail, ctx.Time(), f.store.Stat); e != nil {
			f.respond(ctx, e.info, e.etag, e.data, nil)
			return
		}
	}
	raw := string(rawTail)
	name, err := resolvePath(raw)
	if err != nil {
		if _, dirErr := resolvePath(strings.TrimSuffix(raw, "/")); dirErr == nil {
			err = errNotFile // "dir/" names a directory, and those are 404
		}
		f.fail(ctx, opRead, err)
		return
	}
	if !unescaped {
		if e := f.cache.lookup([]byte(name), ctx.Time(), f.store.Stat); e != nil {
			f.respond(ctx, e.info, e.etag, e.data, nil)
			return
		}
	}
	gen := f.cache.generation()
	file, info, err := f.store.Open(name)
	if err != nil {
		f.fail(ctx, opRead, err)
		return
	}
	if info.size <= maxCachedFile {
		data := make([]byte, info.size)
		_, err := io.ReadFull(file, data)
		file.Close()
		if err != nil {
			f.fail(ctx, opRead, fmt.Errorf("read %s: %w", name, err))
			return
		}
		e := f.cache.add(name, data, info, gen, ctx.Time())
		f.respond(ctx, e.info, e.etag, e.data, nil)
		return
	}
	var etag [80]byte
	f.respond(ctx, info, info.appendETag(etag[:0]), nil, file)
}

// respond answers a GET or HEAD of a file whose bytes are either data
// (immutable, sent without a copy) or file, which it closes or hands to
// fasthttp to close once sent. It applies conditional and range headers.
func (f *fileHandler) respond(ctx *fasthttp.RequestCtx, info fileInfo, etag, data []byte, file io.ReadSeekCloser) {
	closeFile := func() {
		if file != nil {
			file.Close()
		}
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderAcceptRanges, "bytes")
	h.SetBytesV(fasthttp.HeaderETag, etag)
	h.SetLastModified(notAfterDate(info.modTime))

	if notModified(&ctx.Request.Header, etag, info.modTime) {
		closeFile()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	start, length := int64(0), info.size
	ctx.SetStatusCode(fasthttp.StatusOK)
	rangeHeader := ctx.Request.Header.Peek(fasthttp.HeaderRange)
	if len(rangeHeader) > 0 && ifRangeMatches(&ctx.Request.Header, etag, info.modTime) {
		switch first, last, kind := parseRange(rangeHeader, info.size); kind {
		case rangeUnsatisfiable:
			closeFile()
			var cr [32]byte
			h.SetBytesV(fasthttp.HeaderContentRange, strconv.AppendInt(append(cr[:0], "bytes */"...), info.size, 10))
			writeError(ctx, fasthttp.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
			return
		case rangeOne:
			start, length = first, last-first+1
			h.SetContentRange(int(first), int(last), int(info.size))
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
		}
	}
	ctx.SetContentType(contentTypeBytes)
	switch {
	case file == nil:
		ctx.Response.SetBodyRaw(data[start : start+length])
		if ctx.IsHead() {
			// fasthttp derives HEAD's Content-Length from the skipped body,
			// except when that body is empty.
			h.SetContentLength(int(length))
		}
	case ctx.IsHead():
		closeFile()
		h.SetContentLength(int(length))
		ctx.Response.SkipBody = true
	default:
		if start > 0 {
			if _, err := file.Seek(start, io.SeekStart); err != nil {
				closeFile()
				ctx.Logger().Printf("seek: %v", err)
				writeError(ctx, fasthttp.StatusInternalServerError, "internal server error")
				return
			}
		}
		// fasthttp closes the body once sent, which ends the request, and
		// conn uses sendfile where it can.
		ctx.SetBodyStream(&sentBody{r: file, left: length, h: f.h, ctx: ctx}, int(length))
	}
}

func (f *fileHandler) post(ctx *fasthttp.RequestCtx) { f.write(ctx, fasthttp.MethodPost) }
func (f *fileHandler) put(ctx *fasthttp.RequestCtx)  { f.write(ctx, fasthttp.MethodPut) }

// write stores the request body at the path, atomically. POST always answers
// 201; PUT answers 201 when it created the file and 204 when it replaced one.
func (f *fileHandler) write(ctx *fasthttp.RequestCtx, method string) {
	name, refused := f.h.refuseWrite(ctx)
	if refused != 0 {
		return
	}
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
	created, err := f.store.Write(name, body, f.writeCondOf(&ctx.Request.Header, name))
	f.cache.invalidate()
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
	err := f.store.Remove(name, f.writeCondOf(&ctx.Request.Header, name))
	f.cache.invalidate()
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
	if status == fasthttp.StatusInternalServerError {
		ctx.Logger().Printf("%v", err)
	}
	writeError(ctx, status, reason)
}

// fileErrorStatus maps a store error to a status and a short reason.
func fileErrorStatus(op fileOp, err error) (int, string) {
	var errno syscall.Errno
	isErrno := errors.As(err, &errno)
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, errBadPath), isErrno && errno == syscall.ENAMETOOLONG:
		return fasthttp.StatusBadRequest, "bad path"
	case errors.Is(err, errTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &pathErr) && !isErrno:
		// os.Root refused a name that leads out of the root (a symlink); its
		// error has no exported sentinel, but it is the only PathError that
		// is not a system call's errno.
		return fasthttp.StatusForbidden, "path leaves the root"
	case isErrno && (errno == syscall.ENOSPC || errno == syscall.EDQUOT):
		return fasthttp.StatusInsufficientStorage, "no space left on the server"
	case errors.Is(err, errExists), errors.Is(err, errPrecondition):
		return fasthttp.StatusPreconditionFailed, "precondition failed"
	case errors.Is(err, errNotFile):
		return fasthttp.StatusNotFound, "not found"
	case errors.Is(err, errConflict), isErrno && (errno == syscall.EISDIR || errno == syscall.ENOTEMPTY || errno == syscall.EEXIST):
		return fasthttp.StatusConflict, "conflicts with a file or directory on the server"
	case isErrno && errno == syscall.ENOTDIR:
		if op == opRead || op == opDelete {
			return fasthttp.StatusNotFound, "not found"
		}
		return fasthttp.StatusConflict, "conflicts with a file or directory on the server"
	case errors.Is(err, fs.ErrNotExist) && op != opWrite, isErrno && errno == syscall.ELOOP:
		// A write creates what is missing, so ENOENT while writing means the
		// root itself is gone: a server problem (below).
		return fasthttp.StatusNotFound, "not found"
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
func notModified(h *fasthttp.RequestHeader, etag []byte, modTime time.Time) bool {
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
func ifRangeMatches(h *fasthttp.RequestHeader, etag []byte, modTime time.Time) bool {
	v := h.Peek(fasthttp.HeaderIfRange)
	if len(v) == 0 {
		return true
	}
	if v[0] == '"' {
		return string(v) == string(etag)
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
func etagListMatches(list, etag []byte, strong bool) bool {
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
		if bytes.Equal(item, etag) {
			return true
		}
	}
	return false
}

// etagHeaderMatches applies etagListMatches to every line of the header
// key: repeated lines of a list-valued header are one list (RFC 9110
// section 5.3). present reports whether the header was sent at all.
func etagHeaderMatches(h *fasthttp.RequestHeader, key string, etag []byte, strong bool) (match, present bool) {
	for _, list := range h.PeekAll(key) {
		present = true
		if etagListMatches(list, etag, strong) {
			return true, true
		}
	}
	return false, present
}

// preconditionFailed evaluates If-Match and If-None-Match of a write
// against what it would replace or delete (RFC 9110 section 13.2.2,
// If-Match first). A directory exists, with no entity tag: * matches it.
// refuseWrite asks before the body is read; the store asks again as it
// commits (writeCondOf).
func (f *fileHandler) preconditionFailed(h *fasthttp.RequestHeader, name string) bool {
	if !hasPreconditions(h) {
		return false
	}
	info, err := f.store.Stat(name)
	exists := err == nil || errors.Is(err, errNotFile)
	var buf [80]byte
	var etag []byte
	if err == nil {
		etag = info.appendETag(buf[:0])
	}
	if match, present := etagHeaderMatches(h, fasthttp.HeaderIfMatch, etag, true); present && (!exists || !match) {
		return true
	}
	match, _ := etagHeaderMatches(h, fasthttp.HeaderIfNoneMatch, etag, false)
	return exists && match
}

func hasPreconditions(h *fasthttp.RequestHeader) bool {
	return len(h.Peek(fasthttp.HeaderIfMatch)) > 0 || len(h.Peek(fasthttp.HeaderIfNoneMatch)) > 0
}

// writeCondOf is the precondition a write or delete carries to the store.
// If-None-Match: * is also a create-only write, which the store decides by
// a hard link; any other condition is checked again under the name's
// lock, just before the commit.
func (f *fileHandler) writeCondOf(h *fasthttp.RequestHeader, name string) writeCond {
	if !hasPreconditions(h) {
		return writeCond{}
	}
	onlyIfAbsent, _ := etagHeaderMatches(h, fasthttp.HeaderIfNoneMatch, nil, false)
	return writeCond{
		onlyIfAbsent: onlyIfAbsent, // only * matches no entity tag
		holds:        func() bool { return !f.preconditionFailed(h, name) },
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
