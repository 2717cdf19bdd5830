package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"golang.org/x/net/webdav"
)

// WebDAV (RFC 4918, classes 1 and 2) on /dav/, the same tree as /files/.
//
// GET, HEAD and PUT stay native and streaming, through the code that
// serves /files/. DELETE, MKCOL, COPY, MOVE, LOCK, UNLOCK and OPTIONS are
// native too: each is one Backend call, atomic per backend, and x/net/webdav
// would do them through its FileSystem (a COPY through Read and Write, a
// LOCK without shared locks). PROPFIND and PROPPATCH, whose XML is the
// bulk of the protocol, go to x/net/webdav's handler: their request
// bodies are read whole, within davMaxXMLBody, its answer is streamed as
// it writes it (stream), and its FileSystem is the store (davFS).

// davMaxLockOwner bounds the DAV:owner a lock keeps: clients put a name
// or a URL there (litmus, Windows, Finder: under 200 bytes).
const davMaxLockOwner = 4 << 10

const (
	davPrefix = "/dav/"
	// davMaxXMLBody bounds the XML bodies of PROPFIND, PROPPATCH and LOCK,
	// which are read whole into memory.
	davMaxXMLBody = 1 << 20

	davAllow         = "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK"
	davAllowReadOnly = "OPTIONS, GET, HEAD, PROPFIND"

	contentTypeXML = "application/xml; charset=utf-8"
)

var errTooManyLocks = errors.New("too many locks held")

// davHandler serves /dav/.
type davHandler struct {
	backend store.Backend
	h       *handler
	files   *fileHandler
	locks   *davLocks
}

// newDAV builds the /dav/ handler on the backend; h gives its refusals,
// limits and log, files the serving and writing of file bodies.
func newDAV(backend store.Backend, h *handler, files *fileHandler) *davHandler {
	return &davHandler{backend: backend, h: h, files: files, locks: newDAVLocks()}
}

// serve answers any request whose path starts with /dav. "/dav" itself is
// 404, as every path the contract does not name: no redirect to "/dav/".
func (d *davHandler) serve(ctx *fasthttp.RequestCtx) {
	if !bytes.HasPrefix(ctx.Request.URI().PathOriginal(), []byte(davPrefix)) {
		notFound(ctx)
		return
	}
	if d.h.refuseRead(ctx) {
		return
	}
	switch string(ctx.Method()) {
	case fasthttp.MethodGet, fasthttp.MethodHead:
		d.get(ctx)
	case fasthttp.MethodOptions:
		d.options(ctx)
	case "PROPFIND":
		d.propfind(ctx)
	case fasthttp.MethodPut:
		d.put(ctx)
	case fasthttp.MethodDelete:
		d.delete(ctx)
	case "MKCOL":
		d.mkcol(ctx)
	case "COPY", "MOVE":
		d.copyMove(ctx)
	case "PROPPATCH":
		d.proppatch(ctx)
	case "LOCK":
		d.lock(ctx)
	case "UNLOCK":
		d.unlock(ctx)
	default:
		ctx.Response.Header.Set(fasthttp.HeaderAllow, d.allow())
		methodNotAllowed(ctx)
	}
}

// expect decides an `Expect: 100-continue` request to /dav/ from its
// headers alone, as handler.expect does for /files/: 0 lets the body
// come, any other status has been answered.
func (d *davHandler) expect(ctx *fasthttp.RequestCtx) int {
	if d.h.refuseRead(ctx) {
		return ctx.Response.StatusCode()
	}
	if limit, writes := d.bodyLimit(ctx); writes {
		name, status := d.refuseWrite(ctx, limit)
		if status != 0 {
			return status
		}
		if string(ctx.Method()) == fasthttp.MethodPut && d.refusePut(ctx, name) {
			return ctx.Response.StatusCode()
		}
	} else if string(ctx.Method()) == "PROPFIND" && ctx.Request.Header.ContentLength() > davMaxXMLBody {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large")
		return fasthttp.StatusRequestEntityTooLarge
	}
	return 0
}

// bodyLimit is the largest body a writing method accepts; writes is false
// for the methods that do not write.
func (d *davHandler) bodyLimit(ctx *fasthttp.RequestCtx) (limit int64, writes bool) {
	switch string(ctx.Method()) {
	case fasthttp.MethodPut, fasthttp.MethodDelete, "MKCOL", "COPY", "MOVE", "UNLOCK":
		return d.h.maxBody, true
	case "PROPPATCH", "LOCK":
		return min(d.h.maxBody, davMaxXMLBody), true
	}
	return 0, false
}

// davTail returns the raw (still escaped) path after /dav/, valid until
// the handler returns.
func davTail(ctx *fasthttp.RequestCtx) []byte {
	return bytes.TrimPrefix(ctx.Request.URI().PathOriginal(), []byte(davPrefix))
}

// name resolves a raw path under /dav/ as fileHandler.name does, but for
// WebDAV's collections: "" is the root ("."), and a collection's URL may
// end with one "/" ("/dav/dir/" is dir).
func (d *davHandler) name(raw string) (string, error) {
	if raw == "" {
		return ".", nil
	}
	return d.files.name(strings.TrimSuffix(raw, "/"))
}

// refuseWrite writes the first refusal that applies to a writing method,
// in the contract's order: 401 (token), 403 (read-only), 400 (path), 413
// (a declared body over limit). It returns the resolved name and 0 to go
// on, or the status it answered.
func (d *davHandler) refuseWrite(ctx *fasthttp.RequestCtx, limit int64) (name string, status int) {
	switch {
	case !d.h.authorized(ctx):
		unauthorized(ctx)
	case d.h.readOnly:
		writeError(ctx, fasthttp.StatusForbidden, "server is read-only")
	default:
		name, err := d.name(string(davTail(ctx)))
		switch {
		case err != nil:
			writeError(ctx, fasthttp.StatusBadRequest, "bad path")
		case int64(ctx.Request.Header.ContentLength()) > limit:
			writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large")
		default:
			return name, 0
		}
	}
	return "", ctx.Response.StatusCode()
}

// davFail answers a failed storage call of a WebDAV method. Statuses are
// fileErrorStatus's, but where RFC 4918 differs from /files/: MKCOL of
// a taken name is 405 and COPY or MOVE onto one (Overwrite: F) 412; a
// missing or non-collection parent is 409, since WebDAV creates no
// parents.
func (d *davHandler) fail(ctx *fasthttp.RequestCtx, method string, err error) {
	status, reason := davErrorStatus(method, err)
	if status >= fasthttp.StatusInternalServerError {
		ctx.Logger().Printf("%s: %v", method, err)
	}
	writeError(ctx, status, reason)
}

func davErrorStatus(method string, err error) (int, string) {
	is := func(target error) bool { return errors.Is(err, target) }
	switch {
	case method == "MKCOL" && is(store.ErrExist):
		return fasthttp.StatusMethodNotAllowed, "already exists"
	case (method == "COPY" || method == "MOVE") && is(store.ErrExist):
		return fasthttp.StatusPreconditionFailed, "destination exists"
	case method != fasthttp.MethodDelete && (is(store.ErrNotExist) || is(store.ErrNotDir)):
		return fasthttp.StatusConflict, "parent collection missing"
	case method == fasthttp.MethodDelete:
		return fileErrorStatus(opDelete, err)
	}
	return fileErrorStatus(opWrite, err)
}

// get answers GET and HEAD: a file as /files/ does (ranges, validators),
// a collection with its listing.
func (d *davHandler) get(ctx *fasthttp.RequestCtx) {
	d.files.read(ctx, davTail(ctx), davPrefix)
}

// options answers OPTIONS: the classes, and the methods that can succeed.
func (d *davHandler) options(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	// As RFC 4918 and Microsoft spell them: fasthttp would send "Dav".
	h.SetCanonical([]byte("DAV"), []byte("1, 2"))
	h.SetCanonical([]byte("MS-Author-Via"), []byte("DAV")) // Windows asks for it before it writes
	h.Set(fasthttp.HeaderAllow, d.allow())
	h.SetContentLength(0)
	ctx.SetStatusCode(fasthttp.StatusOK)
}

func (d *davHandler) allow() string {
	if d.h.readOnly {
		return davAllowReadOnly
	}
	return davAllow
}

// put stores the body as on /files/, but by RFC 4918 section 9.7.1: a
// missing parent collection is 409, none is created. The parent is
// looked at before the body is read; a parent removed meanwhile is
// created again by the backend's Put.
func (d *davHandler) put(ctx *fasthttp.RequestCtx) {
	name, status := d.refuseWrite(ctx, d.h.maxBody)
	if status != 0 || d.refusePut(ctx, name) {
		return
	}
	if bytes.HasSuffix(davTail(ctx), []byte{'/'}) {
		// A collection's URL: a body cannot become a collection, and
		// storing it as the file "name" would answer another URL.
		writeError(ctx, fasthttp.StatusConflict, conflictReason)
		return
	}
	d.files.writeBody(ctx, name, fasthttp.MethodPut)
}

// refusePut answers what refuses a PUT once the common refusals have
// passed, before its body is read (with Expect: 100-continue, before it is
// sent): a failed condition (412), a lock (423), a missing parent (409).
// It reports whether it answered.
func (d *davHandler) refusePut(ctx *fasthttp.RequestCtx, name string) bool {
	switch {
	case name == ".":
		writeError(ctx, fasthttp.StatusConflict, conflictReason)
		return true
	case d.files.preconditionFailed(ctx, name):
		writeError(ctx, fasthttp.StatusPreconditionFailed, "precondition failed")
		return true
	case !d.checkLocks(ctx, name, davScope{name: name, member: true}):
		return true
	}
	if parent := parentName(name); parent != "." {
		info, err := d.backend.Stat(storeContext, parent)
		if err == nil && !info.IsDir {
			err = store.ErrNotDir
		}
		if err != nil {
			d.fail(ctx, fasthttp.MethodPut, err)
			return true
		}
	}
	return false
}

// delete removes a file, or a collection with everything in it (RFC 4918
// section 9.6.1), and the locks on them.
func (d *davHandler) delete(ctx *fasthttp.RequestCtx) {
	name, status := d.refuseWrite(ctx, d.h.maxBody)
	if status != 0 {
		return
	}
	switch {
	case name == ".":
		writeError(ctx, fasthttp.StatusForbidden, "the root cannot be deleted")
		return
	case d.files.preconditionFailed(ctx, name):
		writeError(ctx, fasthttp.StatusPreconditionFailed, "precondition failed")
		return
	case !d.checkLocks(ctx, name, davScope{name: name, deep: true, member: true}):
		return
	}
	if err := d.backend.Delete(storeContext, name, true, writeCondOf(&ctx.Request.Header)); err != nil {
		d.fail(ctx, fasthttp.MethodDelete, err)
		return
	}
	d.locks.forget(name)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// mkcol creates one collection (RFC 4918 section 9.3).
func (d *davHandler) mkcol(ctx *fasthttp.RequestCtx) {
	name, status := d.refuseWrite(ctx, d.h.maxBody)
	if status != 0 {
		return
	}
	switch {
	case ctx.Request.Header.ContentLength() > 0 || ctx.Request.Header.ContentLength() == -1:
		// No body format for MKCOL is defined; fasthttp skips the unread
		// body before the next request.
		writeError(ctx, fasthttp.StatusUnsupportedMediaType, "MKCOL takes no body")
		return
	case name == ".":
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "already exists")
		return
	case !d.checkLocks(ctx, name, davScope{name: name, member: true}):
		return
	}
	if err := d.backend.Mkdir(storeContext, name); err != nil {
		d.fail(ctx, "MKCOL", err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
}

// copyMove answers COPY and MOVE (RFC 4918 sections 9.8 and 9.9) with one
// Backend.Copy or Move, properties included.
func (d *davHandler) copyMove(ctx *fasthttp.RequestCtx) {
	method := string(ctx.Method())
	src, status := d.refuseWrite(ctx, d.h.maxBody)
	if status != 0 {
		return
	}
	dst, ok := d.destination(ctx)
	if !ok {
		return
	}
	overwrite, recursive := true, true
	switch v := string(ctx.Request.Header.Peek("Overwrite")); v {
	case "", "T", "t":
	case "F", "f":
		overwrite = false
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad Overwrite header")
		return
	}
	switch v := strings.ToLower(string(ctx.Request.Header.Peek("Depth"))); {
	case v == "" || v == "infinity":
	case v == "0" && method == "COPY":
		recursive = false
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad Depth header")
		return
	}
	switch {
	case src == "." || dst == ".":
		writeError(ctx, fasthttp.StatusForbidden, "the root cannot be copied, moved or replaced")
		return
	case src == dst:
		writeError(ctx, fasthttp.StatusForbidden, "source and destination are the same")
		return
	}
	scopes := []davScope{{name: dst, deep: true, member: true}}
	if method == "MOVE" {
		scopes = append(scopes, davScope{name: src, deep: true, member: true})
	}
	if !d.checkLocks(ctx, src, scopes...) {
		return
	}
	if _, err := d.backend.Stat(storeContext, src); err != nil {
		d.files.fail(ctx, opRead, err) // a missing source is 404, not 409
		return
	}
	var created bool
	var err error
	if method == "COPY" {
		created, err = d.backend.Copy(storeContext, src, dst, overwrite, recursive)
	} else {
		created, err = d.backend.Move(storeContext, src, dst, overwrite)
	}
	if err != nil {
		d.fail(ctx, method, err)
		return
	}
	if method == "MOVE" {
		d.locks.forget(src)
	}
	if created {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// destination resolves the Destination header of a COPY or MOVE: an
// absolute URL on this host, or an absolute path, under /dav/, through the
// same checks as a request's path. Another host is 502 (RFC 4918 section
// 9.8.5), anything else that fails 400.
func (d *davHandler) destination(ctx *fasthttp.RequestCtx) (string, bool) {
	v := ctx.Request.Header.Peek("Destination")
	u, err := url.Parse(string(v))
	switch {
	case len(v) == 0:
		writeError(ctx, fasthttp.StatusBadRequest, "missing Destination")
		return "", false
	case err != nil, strings.IndexByte(string(v), '#') >= 0, u.RawQuery != "" || u.ForceQuery:
		// A fragment or a query is no part of a resource's name (RFC
		// 4918 section 10.3 wants an absolute URI or path): taking it
		// off would act on another resource than the one named.
		writeError(ctx, fasthttp.StatusBadRequest, "bad Destination")
		return "", false
	case u.Host != "" && !sameHost(u, ctx):
		writeError(ctx, fasthttp.StatusBadGateway, "destination on another server")
		return "", false
	}
	raw, under := strings.CutPrefix(u.EscapedPath(), davPrefix)
	name, err := d.name(raw)
	if !under || err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad Destination")
		return "", false
	}
	return name, true
}

// sameHost reports whether a Destination's host is this request's Host,
// the scheme's default port made explicit on both sides.
func sameHost(u *url.URL, ctx *fasthttp.RequestCtx) bool {
	port := "80"
	if u.Scheme == "https" || ctx.IsTLS() {
		port = "443"
	}
	withPort := func(host string) string {
		if _, _, err := net.SplitHostPort(host); err == nil {
			return strings.ToLower(host)
		}
		return strings.ToLower(net.JoinHostPort(strings.Trim(host, "[]"), port))
	}
	return withPort(u.Host) == withPort(string(ctx.Host()))
}

// davScope is what a write changes, for the lock check: name, with deep
// everything under it, and with member the membership of its collection.
type davScope struct {
	name         string
	deep, member bool
}

// checkLocks applies the If header (RFC 4918 section 10.4) and the locks
// to a write of target (the request's name) that changes scopes. An If
// header none of whose lists holds refuses the write with 412; then a
// lock whose token the If header does not carry refuses it with 423 (so
// "(<wrong token>) (Not <DAV:no-lock>)" holds, and is 423). It reports
// whether the write may go on, having answered otherwise.
func (d *davHandler) checkLocks(ctx *fasthttp.RequestCtx, target string, scopes ...davScope) bool {
	var lists []ifList
	if v := ctx.Request.Header.Peek("If"); len(v) > 0 {
		var ok bool
		if lists, ok = parseIf(string(v)); !ok {
			writeError(ctx, fasthttp.StatusBadRequest, "malformed If header")
			return false
		}
	}
	now := time.Now()
	if len(lists) > 0 && !d.ifHolds(ctx, now, target, lists) {
		writeError(ctx, fasthttp.StatusPreconditionFailed, "precondition failed")
		return false
	}
	submitted := submittedTokens(lists)
	for _, s := range scopes {
		if d.locks.blocked(now, s.name, s.deep, s.member, submitted) {
			writeError(ctx, fasthttp.StatusLocked, "locked")
			return false
		}
	}
	return true
}

// ifHolds evaluates an If header: true when one of its lists holds, that
// is when each of its conditions does for the list's resource. A state
// token holds when it names a lock that applies to the resource, an
// entity tag when it is the resource's (none for a missing resource or a
// collection). A resource tag that names no resource of ours makes its
// list false.
func (d *davHandler) ifHolds(ctx *fasthttp.RequestCtx, now time.Time, target string, lists []ifList) bool {
	etags := map[string]string{}
	etagOf := func(name string) string {
		tag, ok := etags[name]
		if !ok {
			info, err := d.backend.Stat(storeContext, name)
			if err == nil {
				tag = info.ETag
			}
			etags[name] = tag
		}
		return tag
	}
	for _, l := range lists {
		name := target
		if l.tag != "" {
			var ok bool
			if name, ok = d.tagName(ctx, l.tag); !ok {
				continue
			}
		}
		holds := true
		for _, c := range l.conditions {
			var match bool
			if c.Token != "" {
				match = d.locks.valid(now, c.Token, name)
			} else {
				tag := etagOf(name)
				match = tag != "" && (c.ETag == tag || strings.TrimPrefix(c.ETag, "W/") == tag)
			}
			if match == c.Not {
				holds = false
				break
			}
		}
		if holds {
			return true
		}
	}
	return false
}

// tagName resolves an If header's resource tag to a name, as destination
// does for Destination; ok is false when it names nothing of ours.
func (d *davHandler) tagName(ctx *fasthttp.RequestCtx, tag string) (string, bool) {
	u, err := url.Parse(tag)
	if err != nil || u.Host != "" && !strings.EqualFold(u.Host, string(ctx.Host())) {
		return "", false
	}
	raw, under := strings.CutPrefix(u.EscapedPath(), davPrefix)
	if !under && u.EscapedPath()+"/" != davPrefix {
		return "", false
	}
	name, err := d.name(raw)
	return name, err == nil
}

// lockedFor reports whether a write to name (of /files/ or /dav/, as
// resolved by fileHandler.name) is refused with 423 Locked: name, its
// collection's membership, or anything under it holds a lock whose token
// the request's If header does not carry. Without any lock held it costs
// one atomic load.
func (d *davHandler) lockedFor(ctx *fasthttp.RequestCtx, name string) bool {
	if d.locks.live.Load() == 0 {
		return false
	}
	var lists []ifList
	if v := ctx.Request.Header.Peek("If"); len(v) > 0 {
		lists, _ = parseIf(string(v)) // malformed: no token submitted
	}
	now, tokens := time.Now(), submittedTokens(lists)
	if d.locks.blocked(now, name, true, true, tokens) {
		return true
	}
	// A write through /files/ creates the parents it lacks: the first of
	// them is a new member of the deepest directory that exists, which a
	// depth-0 lock on that directory protects.
	created := ""
	for p := parentName(name); p != "."; p = parentName(p) {
		if _, err := d.backend.Stat(storeContext, p); err == nil {
			break
		}
		created = p
	}
	return created != "" && d.locks.blocked(now, created, false, true, tokens)
}

// propfind answers PROPFIND through x/net/webdav. Depth infinity, which
// is also what a missing Depth means, is refused (RFC 4918 section
// 9.1): a whole tree in one answer is a denial of service.
func (d *davHandler) propfind(ctx *fasthttp.RequestCtx) {
	name, err := d.name(string(davTail(ctx)))
	if err != nil {
		d.files.fail(ctx, opRead, err)
		return
	}
	switch depth := strings.ToLower(string(ctx.Request.Header.Peek("Depth"))); depth {
	case "0", "1":
	case "", "infinity":
		ctx.SetStatusCode(fasthttp.StatusForbidden)
		ctx.SetContentType(contentTypeXML)
		ctx.SetBodyString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
			`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>` + "\n")
		return
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad Depth header")
		return
	}
	d.serveProps(ctx, name)
}

// proppatch answers PROPPATCH through x/net/webdav, once the writing
// method's refusals and the locks have passed.
func (d *davHandler) proppatch(ctx *fasthttp.RequestCtx) {
	name, status := d.refuseWrite(ctx, min(d.h.maxBody, davMaxXMLBody))
	if status != 0 || !d.checkLocks(ctx, name, davScope{name: name}) {
		return
	}
	d.serveProps(ctx, name)
}

// serveProps answers PROPFIND or PROPPATCH of name through x/net/webdav,
// once name is known to exist and the XML body is in. A PROPFIND of live
// properties alone reads no dead ones (a HEAD per object on S3).
func (d *davHandler) serveProps(ctx *fasthttp.RequestCtx, name string) {
	info, err := d.backend.Stat(storeContext, name)
	if err != nil {
		d.files.fail(ctx, opRead, err)
		return
	}
	if !d.readXMLBody(ctx) {
		return
	}
	fsys := newDAVFS(d.backend, d.locks)
	fsys.known[name] = info
	fsys.liveOnly = string(ctx.Method()) == "PROPFIND" && asksLiveOnly(ctx.Request.Body())
	d.serveXML(ctx, fsys, name)
}

// readXMLBody reads a small XML body whole, within davMaxXMLBody and the
// read timeout, so that the request handed to x/net/webdav carries it in
// memory (a streamed body would be read to any size). It reports whether it
// did, having answered otherwise.
func (d *davHandler) readXMLBody(ctx *fasthttp.RequestCtx) bool {
	declared := int64(ctx.Request.Header.ContentLength())
	if declared > davMaxXMLBody {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large")
		ctx.SetConnectionClose()
		return false
	}
	if stream := ctx.RequestBodyStream(); stream != nil { // else fasthttp has it in memory already
		body := &bodyReader{ctx: ctx, r: stream, declared: declared, limit: davMaxXMLBody, timeout: d.files.readTimeout}
		data, err := io.ReadAll(body)
		if err != nil {
			d.files.failBody(ctx, body.err, err)
			return false
		}
		ctx.Request.SetBody(data)
	}
	if undeclaresPrefix(ctx.Request.Body()) {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed XML")
		return false
	}
	return true
}

// undeclaresPrefix reports whether an XML body declares a prefix with an
// empty namespace (xmlns:p=""), which Namespaces in XML 1.0 forbids
// (section 3) and the XML parsers of Go accept.
func undeclaresPrefix(body []byte) bool {
	if !bytes.Contains(body, []byte("xmlns:")) {
		return false
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return false // malformed XML is the parser's to refuse
		}
		if start, ok := tok.(xml.StartElement); ok {
			for _, a := range start.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return true
				}
			}
		}
	}
}

// serveXML hands the request to x/net/webdav's handler on fsys. The
// handler sees the resolved name, not the request's path, so that it
// names exactly what davHandler checked.
func (d *davHandler) serveXML(ctx *fasthttp.RequestCtx, fsys *davFS, name string) {
	wh := &webdav.Handler{
		Prefix:     strings.TrimSuffix(davPrefix, "/"),
		FileSystem: fsys,
		LockSystem: d.locks,
		Logger: func(_ *http.Request, err error) {
			// Its own errors ("webdav: ...") are the client's; a
			// storage failure is ours, and the log says which.
			if err != nil && !strings.HasPrefix(err.Error(), "webdav: ") {
				if status, _ := fileErrorStatus(opRead, err); status >= fasthttp.StatusInternalServerError {
					ctx.Logger().Printf("%s: %v", ctx.Method(), err)
				}
			}
		},
	}
	target := davPrefix
	if name != "." {
		target += name
	}
	d.stream(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path, r.URL.RawPath = target, ""
		wh.ServeHTTP(w, r)
	}))
}

// stream runs the net/http handler h on the request and streams its
// answer as h writes it. x/net/webdav writes a multistatus one response
// at a time; fasthttpadaptor would hold all of it in memory (a PROPFIND
// Depth 1 of 100,000 entries: 69 MB of XML and 450 MiB of RSS). h runs in
// a goroutine of its own; this returns once it has chosen its status and
// headers, and the body then goes out through sentBody, which ends the
// request when h is done or the client is gone.
func (d *davHandler) stream(ctx *fasthttp.RequestCtx, h http.Handler) {
	var r http.Request
	if err := fasthttpadaptor.ConvertRequest(ctx, &r, true); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed request")
		return
	}
	// The request's bytes are fasthttp's until this handler returns; h
	// may read on after that.
	r.Body = io.NopCloser(bytes.NewReader(bytes.Clone(ctx.Request.Body())))
	pr, pw := io.Pipe()
	w := &streamWriter{header: make(http.Header), body: pw, started: make(chan struct{})}
	logger := ctx.Logger()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				logger.Printf("panic: %v\n%s", p, debug.Stack())
				w.WriteHeader(http.StatusInternalServerError)
				pw.CloseWithError(fmt.Errorf("panic: %v", p))
				return
			}
			w.WriteHeader(http.StatusOK) // if h wrote nothing at all
			pw.Close()
		}()
		h.ServeHTTP(w, &r)
	}()
	<-w.started
	ctx.SetStatusCode(w.status)
	for k, vs := range w.header {
		if k == "Content-Length" {
			continue // the length is the stream's, unknown here
		}
		for _, v := range vs {
			ctx.Response.Header.Add(k, v)
		}
	}
	d.h.streamBody(ctx, pr, -1)
}

// streamWriter is the http.ResponseWriter of stream: its header and
// status are read once started is closed, and its body goes into a pipe.
type streamWriter struct {
	header  http.Header
	status  int
	body    *io.PipeWriter
	once    sync.Once
	started chan struct{}
}

func (w *streamWriter) Header() http.Header { return w.header }

func (w *streamWriter) WriteHeader(status int) {
	w.once.Do(func() {
		w.status = status
		close(w.started)
	})
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// davLockInfo is a LOCK request's body (RFC 4918 section 14.11).
type davLockInfo struct {
	XMLName xml.Name   `xml:"DAV: lockinfo"`
	Attrs   []xml.Attr `xml:",any,attr"`
	Scope   struct {
		Exclusive *struct{} `xml:"DAV: exclusive"`
		Shared    *struct{} `xml:"DAV: shared"`
	} `xml:"DAV: lockscope"`
	Type struct {
		Write *struct{} `xml:"DAV: write"`
	} `xml:"DAV: locktype"`
	Owner *struct {
		Attrs []xml.Attr `xml:",any,attr"`
		Inner []byte     `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// ownerXML returns the lockinfo's owner as a DAV:owner element to be
// sent back verbatim, with the namespace declarations in scope where the
// client wrote it, so that its prefixes still mean what they meant. The
// prefix D stays DAV:'s, which the answers declare.
func (li *davLockInfo) ownerXML() string {
	if li.Owner == nil {
		return ""
	}
	decls := map[string]string{}
	for _, attrs := range [][]xml.Attr{li.Attrs, li.Owner.Attrs} {
		for _, a := range attrs {
			switch {
			case a.Name.Space == "xmlns" && a.Name.Local != "D":
				decls["xmlns:"+a.Name.Local] = a.Value
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				decls["xmlns"] = a.Value
			}
		}
	}
	b := []byte("<D:owner")
	for k, v := range decls {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, `="`...)
		b = appendXMLText(b, v)
		b = append(b, '"')
	}
	b = append(b, '>')
	b = append(b, li.Owner.Inner...)
	return string(append(b, "</D:owner>"...))
}

// lock answers LOCK (RFC 4918 section 9.10): a new exclusive or shared
// write lock, or, with an empty body, the refresh of the lock the If
// header names. Locking a name that does not exist creates it empty.
func (d *davHandler) lock(ctx *fasthttp.RequestCtx) {
	name, status := d.refuseWrite(ctx, min(d.h.maxBody, davMaxXMLBody))
	if status != 0 || !d.readXMLBody(ctx) {
		return
	}
	now := time.Now()
	timeout := parseLockTimeout(string(ctx.Request.Header.Peek("Timeout")))
	body := ctx.Request.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		lists, ok := parseIf(string(ctx.Request.Header.Peek("If")))
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, "a refresh needs the lock's token in If")
			return
		}
		for _, token := range submittedTokens(lists) {
			if l, err := d.locks.refresh(now, token, name, timeout); err == nil {
				d.answerLock(ctx, fasthttp.StatusOK, l)
				return
			}
		}
		writeError(ctx, fasthttp.StatusPreconditionFailed, "no such lock")
		return
	}
	var li davLockInfo
	if err := xml.Unmarshal(body, &li); err != nil || li.Type.Write == nil || (li.Scope.Exclusive == nil) == (li.Scope.Shared == nil) {
		writeError(ctx, fasthttp.StatusBadRequest, "bad lockinfo")
		return
	}
	deep := true
	switch depth := strings.ToLower(string(ctx.Request.Header.Peek("Depth"))); depth {
	case "", "infinity":
	case "0":
		deep = false
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad Depth header")
		return
	}
	owner := li.ownerXML()
	if len(owner) > davMaxLockOwner {
		// The owner is kept as long as the lock and sent back with every
		// lockdiscovery: a client's name or URL, not a megabyte of it.
		writeError(ctx, fasthttp.StatusBadRequest, "lock owner too long")
		return
	}
	l, err := d.locks.create(now, name, li.Scope.Shared != nil, deep, owner, timeout)
	switch {
	case errors.Is(err, webdav.ErrLocked):
		writeError(ctx, fasthttp.StatusLocked, "locked")
		return
	case err != nil:
		writeError(ctx, fasthttp.StatusServiceUnavailable, "too many locks")
		return
	}
	created, err := d.createLocked(name)
	if err != nil {
		_ = d.locks.unlock(now, l.token, "")
		d.fail(ctx, fasthttp.MethodPut, err)
		return
	}
	ctx.Response.Header.Set("Lock-Token", "<"+l.token+">")
	status = fasthttp.StatusOK
	if created {
		status = fasthttp.StatusCreated
	}
	d.answerLock(ctx, status, l)
}

// createLocked creates name empty when it does not exist, as a LOCK of an
// unmapped URL does (RFC 4918 section 7.3); its parent must exist.
func (d *davHandler) createLocked(name string) (created bool, err error) {
	if _, err := d.backend.Stat(storeContext, name); !errors.Is(err, store.ErrNotExist) {
		return false, err
	}
	if parent := parentName(name); parent != "." {
		info, err := d.backend.Stat(storeContext, parent)
		if err == nil && !info.IsDir {
			err = store.ErrNotDir
		}
		if err != nil {
			return false, err
		}
	}
	created, err = d.backend.Put(storeContext, name, bytes.NewReader(nil), 0, store.Cond{IfAbsent: true})
	if errors.Is(err, store.ErrExist) {
		return false, nil // created meanwhile by another request
	}
	return created, err
}

// answerLock answers a LOCK with the lock's lockdiscovery.
func (d *davHandler) answerLock(ctx *fasthttp.RequestCtx, status int, l davLock) {
	b := append([]byte(nil), `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:prop xmlns:D="DAV:"><D:lockdiscovery>`...)
	b = appendActiveLock(b, l, l.timeout)
	b = append(b, "</D:lockdiscovery></D:prop>\n"...)
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentTypeXML)
	ctx.SetBody(b)
}

// parseLockTimeout reads a Timeout header (RFC 4918 section 10.7): the
// first of its values this server understands; none, or Infinite, asks
// for the longest (lockTimeout caps it).
func parseLockTimeout(h string) time.Duration {
	for v := range strings.SplitSeq(h, ",") {
		v = strings.TrimSpace(v)
		if n, ok := strings.CutPrefix(v, "Second-"); ok {
			if secs, err := strconv.ParseInt(n, 10, 64); err == nil && secs > 0 {
				return time.Duration(min(secs, int64(maxLockTimeout/time.Second))) * time.Second
			}
		}
		if strings.EqualFold(v, "Infinite") {
			return -1
		}
	}
	return -1
}

// unlock answers UNLOCK (RFC 4918 section 9.11): the lock must apply to
// the request's name, else 409.
func (d *davHandler) unlock(ctx *fasthttp.RequestCtx) {
	name, status := d.refuseWrite(ctx, d.h.maxBody)
	if status != 0 {
		return
	}
	v := strings.TrimSpace(string(ctx.Request.Header.Peek("Lock-Token")))
	token, ok := strings.CutPrefix(v, "<")
	token, closed := strings.CutSuffix(token, ">")
	if !ok || !closed || token == "" {
		writeError(ctx, fasthttp.StatusBadRequest, "missing or malformed Lock-Token")
		return
	}
	if err := d.locks.unlock(time.Now(), token, name); err != nil {
		writeError(ctx, fasthttp.StatusConflict, "no such lock on this resource")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
