package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"github.com/httpbox/httpbox/internal/store"
	"html"
	"io"
	"runtime/debug"
	"strings"
	"unsafe"

	"github.com/fasthttp/router"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

const (
	contentTypeText  = "text/plain" // exactly this: clients compare it byte for byte
	contentTypeError = "text/plain; charset=utf-8"
	contentTypeBytes = "application/octet-stream"
	headerNoSniff    = "X-Content-Type-Options"
	filesPrefix      = "/files/"
	echoPrefix       = "/echo/"
)

// handler owns everything a request needs; it is built once at start-up
// and its methods are the routes.
type handler struct {
	router *router.Router
	files  *fileHandler
	// dav serves /dav/; nil with --no-webdav.
	dav *davHandler
	log *accessLog
	// token is the token writes (and, when private, reads) need, or nil.
	token      []byte
	readOnly   bool
	private    bool
	noListings bool
	maxBody    int64
	indexPage  []byte
}

func newHandler(cfg config, backend store.Backend, log *accessLog) *handler {
	h := &handler{
		log:        log,
		readOnly:   cfg.readOnly,
		private:    cfg.private,
		noListings: cfg.noListings,
		maxBody:    cfg.maxBodySize,
		indexPage:  indexPage(!cfg.noListings, !cfg.noWebDAV),
	}
	if cfg.token != "" {
		h.token = []byte(cfg.token)
	}
	h.files = newFileHandler(backend, h, cfg.readTimeout)
	if !cfg.noWebDAV {
		h.dav = newDAV(backend, h, h.files)
	}
	h.router = h.routes()
	return h
}

// routes lists the whole API.
func (h *handler) routes() *router.Router {
	r := router.New()
	// The contract wants 404 for a wrong case or a trailing slash, not a
	// redirect that curl would not follow.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.NotFound = notFound
	r.MethodNotAllowed = methodNotAllowed
	// The router answers OPTIONS with the Allow of the path; this
	// narrows it to what can succeed.
	r.GlobalOPTIONS = h.options

	get := func(path string, fn fasthttp.RequestHandler) {
		r.GET(path, fn)
		r.HEAD(path, fn) // router v1.5.4 answers HEAD with 405 unless it is registered
	}
	// serve answers GET and HEAD of /echo/ and /files/ before routing;
	// their entries here keep the whole API in one place and give the
	// other methods their 405 with Allow.
	get("/", h.index)
	get("/healthz", healthz)
	get("/echo/{str}", echo)
	get("/user-agent", userAgent)
	get("/files/{path:*}", h.files.get)
	r.POST("/files/{path:*}", h.files.post)
	r.PUT("/files/{path:*}", h.files.put)
	r.DELETE("/files/{path:*}", h.files.delete)
	return r
}

// serve is the server's handler: it refuses what must never reach a route,
// routes, and logs.
func (h *handler) serve(ctx *fasthttp.RequestCtx) {
	defer h.recoverPanic(ctx)
	if status, reason := refusedHeadOf(ctx); status != 0 {
		writeError(ctx, status, reason)
		ctx.SetConnectionClose()
		h.finish(ctx, true, inMemoryBodyBytes(ctx))
		dropRequestState(ctx)
		return
	}
	uri := ctx.Request.URI()
	if len(uri.PathOriginal()) == 0 {
		// An absolute-form target without a path (GET http://host?a) names
		// the root, as GET /?a does (RFC 9112 section 3.2.2).
		uri.SetPathBytes(rootPath)
	}
	path := uri.PathOriginal()
	switch reason := malformed(ctx, path); {
	case reason != "":
		// We cannot be sure where this request ends or what it names:
		// answer it and drop the connection.
		writeError(ctx, fasthttp.StatusBadRequest, reason)
		ctx.SetConnectionClose()
	case isRead(ctx) && bytes.HasPrefix(path, []byte(filesPrefix)):
		// The hot parameter routes skip the router, which copies and boxes
		// parameters: allocations on every request.
		h.files.get(ctx)
	case isRead(ctx) && isEchoPath(path):
		echo(ctx)
	case h.dav != nil && isDAVPath(path):
		h.dav.serve(ctx)
	default:
		h.router.Handler(ctx)
	}
	if !streamedToFinish(ctx) {
		h.finish(ctx, true, inMemoryBodyBytes(ctx))
	}
}

var rootPath = []byte("/")

// refusedHeadOf is refusedHead for a head headerReceived made closing; the
// others, nearly all, pass without being counted again.
func refusedHeadOf(ctx *fasthttp.RequestCtx) (int, string) {
	if !ctx.Request.Header.ConnectionClose() {
		return 0, ""
	}
	return refusedHead(&ctx.Request.Header)
}

// malformed says why a parsed request must still be refused, or "".
func malformed(ctx *fasthttp.RequestCtx, path []byte) string {
	if !validEscapes(path) {
		return "malformed percent-escape in path"
	}
	if bytes.IndexByte(ctx.Request.Header.RequestURI(), '#') >= 0 {
		// A fragment is the client's own (RFC 9112 section 3.2): one that
		// reaches us is a broken client, and "DELETE /d/#x" must not act
		// on /d/.
		return "fragment in request target"
	}
	return badFraming(&ctx.Request.Header)
}

// recoverPanic turns a panic in a handler into a 500 for that request
// alone: fasthttp does not recover, and one bad request must not take the
// server down.
func (h *handler) recoverPanic(ctx *fasthttp.RequestCtx) {
	p := recover()
	if p == nil {
		return
	}
	ctx.Logger().Printf("panic: %v\n%s", p, debug.Stack())
	ctx.Response.ResetBody()
	writeError(ctx, fasthttp.StatusInternalServerError, "internal server error")
	ctx.SetConnectionClose()
	h.finish(ctx, true, inMemoryBodyBytes(ctx))
	dropRequestState(ctx)
}

func isRead(ctx *fasthttp.RequestCtx) bool { return ctx.IsGet() || ctx.IsHead() }

// isDAVPath reports whether p is under /dav/ (or is /dav, which the DAV
// handler answers with 404 for every method, not the router's 405).
func isDAVPath(p []byte) bool {
	return bytes.HasPrefix(p, []byte(davPrefix)) || string(p) == davPrefix[:len(davPrefix)-1]
}

// isEchoPath reports whether p is /echo/ and one non-empty segment.
func isEchoPath(p []byte) bool {
	seg, ok := bytes.CutPrefix(p, []byte(echoPrefix))
	return ok && len(seg) > 0 && bytes.IndexByte(seg, '/') < 0
}

// badFraming says why a request's body framing is refused, or "". Both
// Content-Length and Transfer-Encoding: fasthttp obeys Transfer-Encoding,
// but a proxy in front of us might have obeyed Content-Length, the classic
// request-smuggling split (RFC 9112 section 6.3). A Transfer-Encoding other
// than chunked that fasthttp let through (identity): the body's end is
// unknowable, so its bytes could be read as the next request.
func badFraming(h *fasthttp.RequestHeader) string {
	if h.ContentLength() == -1 { // chunked
		if hasRawHeader(h, fasthttp.HeaderContentLength) {
			return "both Content-Length and Transfer-Encoding"
		}
		return ""
	}
	// Otherwise fasthttp saw no chunked coding, so any Transfer-Encoding
	// is one it let through without framing the body by it.
	if hasRawHeader(h, fasthttp.HeaderTransferEncoding) {
		return "unsupported Transfer-Encoding"
	}
	return ""
}

// hasRawHeader reports whether the request carried a header named name,
// as sent (fasthttp folds the framing headers into its own fields).
func hasRawHeader(h *fasthttp.RequestHeader, name string) bool {
	for line := range bytes.SplitSeq(h.RawHeaders(), []byte{'\n'}) {
		if len(line) > len(name) && line[len(name)] == ':' && strings.EqualFold(string(line[:len(name)]), name) {
			return true
		}
	}
	return false
}

// requestError answers a request fasthttp could not read or parse. The
// connection is closed afterwards: we cannot know where the next request
// starts.
func (h *handler) requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &timeout) && timeout.Timeout():
		writeError(ctx, fasthttp.StatusRequestTimeout, "request not received in time")
	case errors.Is(err, errHeadFields):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "too many header fields")
	case errors.As(err, &small) && requestLineTooLong(ctx):
		writeError(ctx, fasthttp.StatusRequestURITooLong, "request line too long")
	case errors.As(err, &small):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "request header too large")
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(ctx, fasthttp.StatusBadRequest, "request body incomplete")
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "malformed request")
	}
	ctx.SetConnectionClose()
	// fasthttp resets the request after any error, so what it was is
	// unknown; but the reset keeps the parsed state's memory, which
	// finish drops.
	h.finish(ctx, false, inMemoryBodyBytes(ctx))
}

// expect decides an `Expect: 100-continue` request from its headers alone,
// so that a client is refused before it sends a body we would throw away.
// It refuses what serve would refuse, in the same order.
func (h *handler) expect(ctx *fasthttp.RequestCtx) int {
	status := 0
	path := ctx.Request.URI().PathOriginal()
	switch reason := malformed(ctx, path); {
	case reason != "":
		writeError(ctx, fasthttp.StatusBadRequest, reason)
		status = fasthttp.StatusBadRequest
	case h.dav != nil && isDAVPath(path):
		if status = h.dav.expect(ctx); status == 0 {
			return fasthttp.StatusContinue
		}
	default:
		if _, status = h.refuseWrite(ctx); status == 0 {
			return fasthttp.StatusContinue
		}
	}
	// fasthttp closes the connection after a refused Expect.
	h.finish(ctx, true, inMemoryBodyBytes(ctx))
	dropRequestState(ctx)
	return status
}

// refuseWrite writes the first refusal that applies to a write request, in
// the contract's order (401, 403, 400, 413, then 412 for a failed
// If-Match or If-None-Match), and returns its status; 0
// means go ahead, with name the resolved path. Reads and other paths are
// never refused here.
func (h *handler) refuseWrite(ctx *fasthttp.RequestCtx) (name string, status int) {
	m := ctx.Method()
	isWrite := string(m) == fasthttp.MethodPost || string(m) == fasthttp.MethodPut || string(m) == fasthttp.MethodDelete
	if !isWrite || !bytes.HasPrefix(ctx.Request.URI().PathOriginal(), []byte(filesPrefix)) {
		return "", 0
	}
	switch {
	case !h.authorized(ctx):
		unauthorized(ctx)
	case h.readOnly:
		writeError(ctx, fasthttp.StatusForbidden, "server is read-only")
	default:
		name, err := h.files.name(string(filesTail(ctx)))
		switch {
		case err != nil:
			writeError(ctx, fasthttp.StatusBadRequest, "bad path")
		case int64(ctx.Request.Header.ContentLength()) > h.maxBody:
			writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large")
		case h.files.preconditionFailed(ctx, name):
			writeError(ctx, fasthttp.StatusPreconditionFailed, "precondition failed")
		case h.dav != nil && h.dav.lockedFor(ctx, name):
			// A WebDAV lock binds /files/ writes too (RFC 4918 section 7).
			writeError(ctx, fasthttp.StatusLocked, "locked")
		default:
			return name, 0
		}
	}
	return "", ctx.Response.StatusCode()
}

// authorized reports whether the request carries our token: as
// "Bearer <token>", or as the password of Basic authentication with any
// user name, since browsers and WebDAV clients (davfs2, rclone, Finder,
// Windows) only speak Basic. The comparison takes constant time, so that
// response times do not reveal how much of a guess was right.
func (h *handler) authorized(ctx *fasthttp.RequestCtx) bool {
	if h.token == nil {
		return true
	}
	header := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	scheme, cred, _ := bytes.Cut(header, []byte{' '})
	cred = bytes.TrimSpace(cred)
	switch {
	case strings.EqualFold(string(scheme), "bearer"):
		return subtle.ConstantTimeCompare(cred, h.token) == 1
	case strings.EqualFold(string(scheme), "basic"):
		var buf [512]byte // a longer credential is no token of ours
		if base64.StdEncoding.DecodedLen(len(cred)) > len(buf) {
			return false
		}
		n, err := base64.StdEncoding.Decode(buf[:], cred)
		if err != nil {
			return false
		}
		_, password, ok := bytes.Cut(buf[:n], []byte{':'})
		return ok && subtle.ConstantTimeCompare(password, h.token) == 1
	}
	return false
}

// unauthorized answers 401 with both challenges a client may answer.
func unauthorized(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Add(fasthttp.HeaderWWWAuthenticate, "Bearer")
	ctx.Response.Header.Add(fasthttp.HeaderWWWAuthenticate, `Basic realm="httpbox", charset="UTF-8"`)
	writeError(ctx, fasthttp.StatusUnauthorized, "missing or wrong token")
}

// refuseRead answers 401 to a read of the tree (/files/, /dav/) without
// the token under --private, and reports whether it did.
func (h *handler) refuseRead(ctx *fasthttp.RequestCtx) bool {
	if !h.private || h.authorized(ctx) {
		return false
	}
	unauthorized(ctx)
	return true
}

// filesTail returns the raw (still escaped) path after /files/. It is
// valid until the handler returns.
func filesTail(ctx *fasthttp.RequestCtx) []byte {
	return bytes.TrimPrefix(ctx.Request.URI().PathOriginal(), []byte(filesPrefix))
}

// index answers GET /: an empty body for scripts and health checks, a
// small page for a browser (a client that prefers text/html).
func (h *handler) index(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.Set(fasthttp.HeaderVary, fasthttp.HeaderAccept)
	if listingFormatOf(&ctx.Request.Header) == listingHTML {
		ctx.SetContentType(listingTypeHTML)
		ctx.Response.Header.Set(fasthttp.HeaderContentSecurityPolicy, listingCSP)
		ctx.Response.SetBodyRaw(h.indexPage)
		return
	}
	// fasthttp leaves Content-Length out of a bodiless HEAD answer; HEAD
	// must carry GET's headers.
	ctx.Response.Header.SetContentLength(0)
}

// projectPage is where the README and releases are.
const projectPage = "https://github.com/httpbox/httpbox"

// indexPage is the page a browser gets at /: the version, and where to
// go from there.
func indexPage(listings, webdav bool) []byte {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1"><title>httpbox</title>` +
		`<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}` +
		`a{color:#0b57d0}code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}` +
		`@media(prefers-color-scheme:dark){body{background:#161616;color:#ddd}a{color:#8ab4f8}code{background:#2a2a2a}}</style>` +
		`</head><body><h1>httpbox</h1><p>`)
	b.WriteString(html.EscapeString(versionLine()))
	b.WriteString(`</p><ul>`)
	if listings {
		b.WriteString(`<li><a href="/files/">Browse the files</a></li>`)
	}
	if webdav {
		b.WriteString(`<li>Mount <code>/dav/</code> with a WebDAV client (davfs2, rclone, Finder, Windows)</li>`)
	}
	b.WriteString(`<li><code>curl -T FILE http://HOST/files/NAME</code> uploads a file</li>` +
		`<li><a href="` + projectPage + `">The project page and README</a></li></ul></body></html>` + "\n")
	return []byte(b.String())
}

func healthz(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentTypeText)
	ctx.SetBodyString("ok")
}

// echo answers with its path segment, percent-decoded. The body reflects
// user input, so browsers are told not to sniff it into HTML.
// The segment is read from the raw path, whose escapes serve has checked.
func echo(ctx *fasthttp.RequestCtx) {
	seg := bytes.TrimPrefix(ctx.Request.URI().PathOriginal(), []byte(echoPrefix))
	appendUnescaped(&ctx.Response, seg)
	setHeader(&ctx.Response.Header, headerNoSniff, "nosniff")
	finishText(ctx)
}

// appendUnescaped appends s, percent-decoded, to resp's body, without a
// copy of its own. s must pass validEscapes.
func appendUnescaped(resp *fasthttp.Response, s []byte) {
	for {
		i := bytes.IndexByte(s, '%')
		if i < 0 || i+2 >= len(s) {
			resp.AppendBody(s)
			return
		}
		resp.AppendBody(s[:i])
		resp.AppendBody([]byte{unhex(s[i+1])<<4 | unhex(s[i+2])})
		s = s[i+3:]
	}
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func userAgent(ctx *fasthttp.RequestCtx) {
	ctx.SetBody(ctx.Request.Header.UserAgent())
	finishText(ctx)
}

// finishText makes the body already set a 200 text/plain answer,
// gzip-compressed when the client accepts it.
func finishText(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentTypeText)
	setHeader(&ctx.Response.Header, fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
	if gzipAccepted(&ctx.Request.Header) {
		buf := bytebufferpool.Get()
		buf.B = fasthttp.AppendGzipBytesLevel(buf.B, ctx.Response.Body(), fasthttp.CompressBestSpeed)
		ctx.Response.SetBody(buf.B)
		bytebufferpool.Put(buf)
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "gzip")
	}
	if ctx.IsHead() {
		// fasthttp leaves Content-Length out of a HEAD answer whose
		// skipped body is empty (an absent User-Agent); GET has it.
		ctx.Response.Header.SetContentLength(len(ctx.Response.Body()))
	}
}

// setHeader sets a response header whose name is in canonical form, as
// the names of fasthttp's and our constants are. fasthttp's Set would
// normalise the name and copy the value twice, on every request; this
// hands both over without a copy of their own, which is safe because
// SetCanonical copies them.
func setHeader(h *fasthttp.ResponseHeader, name, value string) {
	h.SetCanonical(unsafe.Slice(unsafe.StringData(name), len(name)), unsafe.Slice(unsafe.StringData(value), len(value)))
}

func notFound(ctx *fasthttp.RequestCtx) {
	writeError(ctx, fasthttp.StatusNotFound, "not found")
}

// options completes the router's answer to OPTIONS, whose Allow lists
// the methods routed for the path: under --read-only only reads can
// succeed on /files/, and under --private the tree's Allow is the
// token's to know.
func (h *handler) options(ctx *fasthttp.RequestCtx) {
	if !bytes.HasPrefix(ctx.Request.URI().PathOriginal(), []byte(filesPrefix)) {
		return
	}
	if h.refuseRead(ctx) {
		ctx.Response.Header.Del(fasthttp.HeaderAllow)
		return
	}
	allow := "GET, HEAD, POST, PUT, DELETE, OPTIONS"
	if h.readOnly {
		allow = "GET, HEAD, OPTIONS"
	}
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
}

func methodNotAllowed(ctx *fasthttp.RequestCtx) {
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
}

// writeError sends status with a short fixed reason. The reason never
// contains error text: that goes to the log, not to a client.
func writeError(ctx *fasthttp.RequestCtx, status int, reason string) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetStatusMessage(rfc9110Reasons[status]) // nil: fasthttp's own
	ctx.SetContentType(contentTypeError)
	setHeader(&ctx.Response.Header, headerNoSniff, "nosniff")
	ctx.Response.Header.Del(fasthttp.HeaderContentEncoding)
	ctx.SetBodyString(reason)
	ctx.WriteString("\n")
}

// rfc9110Reasons are the reason phrases RFC 9110 renamed, where fasthttp
// still sends the older ones of RFC 2616.
var rfc9110Reasons = map[int][]byte{
	fasthttp.StatusRequestEntityTooLarge:        []byte("Content Too Large"),
	fasthttp.StatusRequestURITooLong:            []byte("URI Too Long"),
	fasthttp.StatusRequestedRangeNotSatisfiable: []byte("Range Not Satisfiable"),
	fasthttp.StatusUnprocessableEntity:          []byte("Unprocessable Content"),
}

// validEscapes reports whether every % in p starts a two-digit hex escape.
func validEscapes(p []byte) bool {
	for i := bytes.IndexByte(p, '%'); i >= 0; i = bytes.IndexByte(p, '%') {
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return false
		}
		p = p[i+3:]
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// gzipAccepted reports whether the request's Accept-Encoding, all of its
// lines read as one list (RFC 9110 section 5.3), accepts gzip.
func gzipAccepted(h *fasthttp.RequestHeader) bool {
	for _, v := range h.PeekAll(fasthttp.HeaderAcceptEncoding) {
		if accept, listed := gzipListed(v); listed {
			return accept
		}
	}
	return false
}

// gzipListed finds gzip in an Accept-Encoding value and reports whether
// it is accepted (q-value not 0). Names are case-insensitive and may stand
// anywhere in the comma list (RFC 9110 section 12.5.3).
func gzipListed(h []byte) (accept, listed bool) {
	for len(h) > 0 {
		var item []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			item, h = h[:i], h[i+1:]
		} else {
			item, h = h, nil
		}
		name, params, _ := bytes.Cut(item, []byte{';'})
		name = bytes.TrimSpace(name)
		if !bytes.EqualFold(name, []byte("gzip")) && !bytes.EqualFold(name, []byte("x-gzip")) {
			continue
		}
		return !zeroQuality(params), true
	}
	return false, false
}

// zeroQuality reports whether the parameters of a list item say q=0
// (also written 0., 0.0, 0.00, 0.000).
func zeroQuality(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		key, val, ok := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if !ok || !bytes.EqualFold(bytes.TrimSpace(key), []byte("q")) {
			continue
		}
		val = bytes.TrimSpace(val)
		if len(val) == 0 || val[0] != '0' {
			return false
		}
		return len(bytes.Trim(val[1:], ".0")) == 0 && bytes.Count(val, []byte{'.'}) <= 1
	}
	return false
}
