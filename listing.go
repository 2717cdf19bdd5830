package main

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/httpbox/httpbox/internal/store"
	"github.com/valyala/fasthttp"
)

// Directory listings (the contract's "Directory listings"): plain text,
// JSON or an HTML page, chosen by Accept, directories first.
//
// The entries are collected first (their names and a few numbers: the
// order puts directories first, and the answer's length must be known),
// then the body is rendered piece by piece as fasthttp reads it, so memory
// grows with the names, never with the rendered page. The length is
// computed by rendering once without keeping the bytes: with it the
// answer goes out through sentBody like a file, which keeps the
// --write-timeout progress rule, counts the bytes sent and ends the
// request once (see finish), and HEAD carries GET's Content-Length.
//
// How names that do not fit a format are shown:
//   - text: one entry a line, so the bytes that would break or hide a line
//     are escaped as ls -b does: \\, \n, \r, \t, and \xHH for other
//     control bytes and for bytes that are not UTF-8. Every other name
//     appears as it is.
//   - JSON: names are JSON strings; bytes that are not UTF-8 become
//     U+FFFD, and such an entry also carries "href", its exact,
//     percent-encoded path, so that it can still be fetched.
//   - HTML: names are escaped; bytes that are not UTF-8 show as U+FFFD
//     and control characters as their Unicode control pictures (a newline
//     as U+240A), so that no two names look alike by accident. Links are
//     always exact.
//   - mtime: RFC 3339 in UTC, to the second. What has none (a directory
//     on S3 is a key prefix) or none RFC 3339 can write (a year past
//     9999) gets the zero time, 0001-01-01T00:00:00Z, in JSON, so that
//     every entry has the same fields and types; the HTML page leaves the
//     cell empty.

const (
	listingTypeText = "text/plain; charset=utf-8"
	listingTypeHTML = "text/html; charset=utf-8"
	listingTypeJSON = "application/json"
	// listingCSP lets the page use its own inline style and nothing else:
	// no script, no image, no request of any kind.
	listingCSP = "default-src 'none'; style-src 'unsafe-inline'"
	// listingChunk is how much is rendered at a time when fasthttp asks
	// for the body.
	listingChunk = 16 << 10
	// listingNoTime marks an entry whose modification time is unknown.
	listingNoTime = -1 << 63
)

type listingFormat int

const (
	listingText listingFormat = iota // the default: curl and scripts
	listingHTML
	listingJSON
)

// listingEntry is what a listing keeps of one entry: its name and 16
// bytes more.
type listingEntry struct {
	name  string
	size  int64 // -1 for a directory
	mtime int64 // Unix seconds, or listingNoTime
}

func (e *listingEntry) isDir() bool { return e.size < 0 }

// listingEntries is a list that grows by blocks of listingBlock entries:
// growing never copies it, nor leaves behind the array it outgrew, whose
// garbage would double what 100,000 entries cost until collected.
type listingEntries struct {
	blocks [][]listingEntry
	n      int
}

const listingBlock = 1024

func (l *listingEntries) add(e listingEntry) {
	if len(l.blocks) == 0 || len(l.blocks[len(l.blocks)-1]) == listingBlock {
		// Whole blocks at once: grown by append, each would leave its
		// smaller copies behind as garbage.
		l.blocks = append(l.blocks, make([]listingEntry, 0, listingBlock))
	}
	last := &l.blocks[len(l.blocks)-1]
	*last = append(*last, e)
	l.n++
}

func (l *listingEntries) at(i int) *listingEntry {
	return &l.blocks[i/listingBlock][i%listingBlock]
}

// serveListing answers GET or HEAD of the directory name ("." for the
// root) with its listing. linkBase is the URL prefix of the tree, "/files/"
// or "/dav/", with both slashes. The format follows Accept. name is
// trusted (resolved by the caller) and must outlive the handler, since the
// body is rendered after it returns: not the request's bytes. The names
// the backend lists are not trusted, and are escaped for every format.
// Backend errors go through f.fail: a missing directory is 404, one
// reached through a symlink out of the root 403.
func (f *fileHandler) serveListing(ctx *fasthttp.RequestCtx, name, linkBase string) {
	var dirs, files listingEntries
	err := f.backend.List(storeContext, name, func(info store.Info) error {
		if info.IsDir {
			dirs.add(listingEntry{name: info.Name, size: -1, mtime: listingTime(info.ModTime)})
		} else {
			files.add(listingEntry{name: info.Name, size: info.Size, mtime: listingTime(info.ModTime)})
		}
		return nil
	})
	if err != nil {
		f.fail(ctx, opRead, err)
		return
	}
	body := newListingBody(listingFormatOf(&ctx.Request.Header), name, linkBase, dirs, files)

	h := &ctx.Response.Header
	setHeader(h, fasthttp.HeaderVary, fasthttp.HeaderAccept)
	setHeader(h, headerNoSniff, "nosniff")
	setHeader(h, fasthttp.HeaderContentSecurityPolicy, listingCSP)
	ctx.SetContentType(body.format.contentType())
	ctx.SetStatusCode(fasthttp.StatusOK)
	size := body.size()
	if ctx.IsHead() || size == 0 {
		h.SetContentLength(int(size))
		ctx.Response.SkipBody = ctx.IsHead()
		return
	}
	// fasthttp closes the body once sent, which ends the request.
	f.h.streamBody(ctx, body, size)
}

func (lf listingFormat) contentType() string {
	switch lf {
	case listingHTML:
		return listingTypeHTML
	case listingJSON:
		return listingTypeJSON
	}
	return listingTypeText
}

// listingTime turns a modification time into what a listing keeps of it.
// The zero time is "unknown", and so is a year RFC 3339 cannot write.
func listingTime(t time.Time) int64 {
	if t.IsZero() {
		return listingNoTime
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return listingNoTime
	}
	return t.Unix()
}

// listingFormatOf picks the format from the request's Accept, every line
// of it read as one list (RFC 9110 section 5.3), by the rules of RFC 9110
// section 12.5.1: each format takes the weight of the most specific media
// range that matches it (text/html over text/* over */*), and q=0 rules
// it out. The highest weight wins; a tie goes to the format matched more
// specifically, then to the range listed first. A client that accepts
// none of them, or names none (no Accept, */*, text/*), gets plain text.
// Parameters other than q are ignored.
func listingFormatOf(h *fasthttp.RequestHeader) listingFormat {
	type match struct {
		q, specificity, position int // specificity -1: no range matched
	}
	offers := [...]struct {
		format       listingFormat
		typ, subtype string
		matched      match
	}{
		{format: listingText, typ: "text", subtype: "plain"},
		{format: listingHTML, typ: "text", subtype: "html"},
		{format: listingJSON, typ: "application", subtype: "json"},
	}
	for i := range offers {
		offers[i].matched.specificity = -1
	}
	position := 0
	for _, line := range h.PeekAll(fasthttp.HeaderAccept) {
		for item := range bytes.SplitSeq(line, []byte{','}) {
			mediaRange, params, _ := bytes.Cut(item, []byte{';'})
			typ, subtype, ok := bytes.Cut(bytes.TrimSpace(mediaRange), []byte{'/'})
			q, qOK := acceptWeight(params)
			if !ok || !qOK || len(typ) == 0 || len(subtype) == 0 || string(typ) == "*" && string(subtype) != "*" {
				continue // not a media range: ignored, as a malformed item should be
			}
			specificity := 2
			switch {
			case string(typ) == "*":
				specificity = 0
			case string(subtype) == "*":
				specificity = 1
			}
			for i := range offers {
				o := &offers[i]
				fits := specificity == 0 ||
					bytes.EqualFold(typ, []byte(o.typ)) && (specificity == 1 || bytes.EqualFold(subtype, []byte(o.subtype)))
				if fits && specificity > o.matched.specificity {
					o.matched = match{q: q, specificity: specificity, position: position}
				}
			}
			position++
		}
	}
	best, bestMatch := listingText, match{specificity: -1}
	for _, o := range offers {
		m := o.matched
		if m.specificity < 0 || m.q == 0 {
			continue
		}
		if bestMatch.specificity < 0 || m.q > bestMatch.q ||
			m.q == bestMatch.q && (m.specificity > bestMatch.specificity ||
				m.specificity == bestMatch.specificity && m.position < bestMatch.position) {
			best, bestMatch = o.format, m
		}
	}
	return best
}

// acceptWeight reads the q parameter of a media range's parameters, in
// thousandths (1000 when absent); ok is false when it is malformed. What
// follows q is an accept-ext and does not matter here.
func acceptWeight(params []byte) (q int, ok bool) {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		key, val, _ := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if !bytes.EqualFold(bytes.TrimSpace(key), []byte("q")) {
			continue
		}
		return parseQValue(bytes.TrimSpace(val))
	}
	return 1000, true
}

// parseQValue parses a qvalue (RFC 9110 section 12.4.2: 0 to 1 with at
// most three decimals) into thousandths.
func parseQValue(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q, true
	}
	if v[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q, q <= 1000
}

// listingBody renders a listing as it is read: a head, one piece per
// entry (directories, then files), a tail. It is the r of a sentBody.
type listingBody struct {
	format      listingFormat
	dir         string // "." for the root
	linkBase    string // "/files/"
	dirURL      []byte // the directory's own absolute, escaped path, ending in "/"
	dirs, files listingEntries
	piece       int    // the next piece to render: 0 the head, then entries, then the tail
	buf         []byte // rendered, not yet read from off on
	off         int
	scratch     []byte // an entry's URL, before it is HTML-escaped
}

func newListingBody(format listingFormat, dir, linkBase string, dirs, files listingEntries) *listingBody {
	b := &listingBody{format: format, dir: dir, linkBase: linkBase, dirs: dirs, files: files}
	b.dirURL = append(b.dirURL, linkBase...)
	if dir != "." {
		b.dirURL = listingAppendPath(b.dirURL, dir)
		b.dirURL = append(b.dirURL, '/')
	}
	return b
}

// pieces is how many pieces the listing has.
func (b *listingBody) pieces() int { return b.dirs.n + b.files.n + 2 }

// size is the length of the whole listing, rendered once into a small
// buffer that is thrown away piece by piece.
func (b *listingBody) size() int64 {
	var n int64
	scratch := make([]byte, 0, 1024)
	for i := range b.pieces() {
		scratch = b.appendPiece(scratch[:0], i)
		n += int64(len(scratch))
	}
	return n
}

// Read renders the listing into p, listingChunk at a time.
func (b *listingBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if b.off == len(b.buf) {
			if b.piece >= b.pieces() {
				break
			}
			b.buf, b.off = b.buf[:0], 0
			for b.piece < b.pieces() && len(b.buf) < listingChunk {
				b.buf = b.appendPiece(b.buf, b.piece)
				b.piece++
			}
		}
		c := copy(p[n:], b.buf[b.off:])
		b.off += c
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Close lets the entries go; sentBody calls it once the answer is sent.
func (b *listingBody) Close() error {
	b.dirs, b.files, b.buf = listingEntries{}, listingEntries{}, nil
	b.piece = b.pieces()
	return nil
}

// appendPiece appends piece i of the listing to dst.
func (b *listingBody) appendPiece(dst []byte, i int) []byte {
	last := b.pieces() - 1
	switch {
	case i == 0:
		return b.appendHead(dst)
	case i == last:
		return b.appendTail(dst)
	}
	i--
	var e *listingEntry
	if i < b.dirs.n {
		e = b.dirs.at(i)
	} else {
		e = b.files.at(i - b.dirs.n)
	}
	switch b.format {
	case listingHTML:
		return b.appendHTMLRow(dst, e)
	case listingJSON:
		if i > 0 {
			dst = append(dst, ',')
		}
		return b.appendJSONEntry(append(dst, '\n'), e)
	}
	dst = listingAppendText(dst, e.name)
	if e.isDir() {
		dst = append(dst, '/')
	}
	return append(dst, '\n')
}

func (b *listingBody) appendHead(dst []byte) []byte {
	switch b.format {
	case listingJSON:
		return append(dst, '[')
	case listingHTML:
		return b.appendHTMLHead(dst)
	}
	return dst
}

func (b *listingBody) appendTail(dst []byte) []byte {
	switch b.format {
	case listingJSON:
		if b.dirs.n+b.files.n > 0 {
			dst = append(dst, '\n')
		}
		return append(dst, "]\n"...)
	case listingHTML:
		return b.appendHTMLTail(dst)
	}
	return dst
}

// --- JSON ---

// appendJSONEntry appends {"name":...,"type":...,"size":...,"mtime":...}.
func (b *listingBody) appendJSONEntry(dst []byte, e *listingEntry) []byte {
	dst = append(dst, `{"name":`...)
	dst = listingAppendJSONString(dst, e.name)
	if e.isDir() {
		dst = append(dst, `,"type":"dir","size":0`...)
	} else {
		dst = append(dst, `,"type":"file","size":`...)
		dst = strconv.AppendInt(dst, e.size, 10)
	}
	dst = append(dst, `,"mtime":"`...)
	dst = listingAppendRFC3339(dst, e.mtime)
	dst = append(dst, '"')
	if !utf8.ValidString(e.name) {
		dst = append(dst, `,"href":"`...)
		dst = b.appendEntryURL(dst, e)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// listingAppendJSONString appends s as a JSON string. Bytes that are not
// UTF-8 become U+FFFD; U+2028 and U+2029 are escaped, so the text can
// also be embedded in JavaScript.
func listingAppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028':
			dst = append(dst, `\u2028`...)
		case r == '\u2029':
			dst = append(dst, `\u2029`...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// listingAppendRFC3339 appends a listing's time in RFC 3339, UTC, to the
// second; an unknown one as the zero time.
func listingAppendRFC3339(dst []byte, unix int64) []byte {
	if unix == listingNoTime {
		return append(dst, "0001-01-01T00:00:00Z"...)
	}
	return time.Unix(unix, 0).UTC().AppendFormat(dst, time.RFC3339)
}

// --- Plain text ---

// listingAppendText appends a name for the one-entry-a-line format: as it
// is, but for backslashes, control bytes and bytes that are not UTF-8,
// which are escaped as ls -b does.
func listingAppendText(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				dst = append(dst, `\\`...)
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// --- Links ---

// listingAppendPath appends a slash-separated name with each segment
// percent-encoded (listingAppendSegment).
func listingAppendPath(dst []byte, name string) []byte {
	for {
		seg, rest, more := strings.Cut(name, "/")
		dst = listingAppendSegment(dst, seg)
		if !more {
			return dst
		}
		dst = append(dst, '/')
		name = rest
	}
}

// listingAppendSegment appends one path segment percent-encoded as
// url.PathEscape does: every byte but letters, digits and -._~$&+:=@ is
// escaped, / ; , ? included, so that any name, of any bytes, comes back
// whole when the server decodes the path.
func listingAppendSegment(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			dst = append(dst, c)
			continue
		}
		switch c {
		case '-', '_', '.', '~', '$', '&', '+', ':', '=', '@':
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}

// appendEntryURL appends the absolute, escaped path of an entry; a
// directory's ends with "/".
func (b *listingBody) appendEntryURL(dst []byte, e *listingEntry) []byte {
	dst = append(dst, b.dirURL...)
	dst = listingAppendSegment(dst, e.name)
	if e.isDir() {
		dst = append(dst, '/')
	}
	return dst
}

// --- HTML ---

// listingStyle is the page's whole style: system fonts, light and dark.
const listingStyle = `:root{color-scheme:light dark;--fg:#1f2328;--muted:#656d76;--bg:#fff;--line:#d8dee4;--stripe:#f6f8fa;--hover:#eaeef2;--link:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8d96a0;--bg:#0d1117;--line:#30363d;--stripe:#151b23;--hover:#1f2630;--link:#4493f8}}
*{box-sizing:border-box}
body{margin:0;padding:2rem 1rem;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:64rem;margin:0 auto}
h1{margin:0 0 1.25rem;font-size:1.3rem;font-weight:600;overflow-wrap:anywhere}
h1 a{color:inherit}
table{width:100%;border-collapse:collapse}
th,td{padding:.45rem .75rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{color:var(--muted);font-size:.75rem;font-weight:600;letter-spacing:.05em;text-transform:uppercase}
tbody tr:nth-child(even){background:var(--stripe)}
tbody tr:hover{background:var(--hover)}
td.n{overflow-wrap:anywhere;white-space:pre-wrap}
.s,.m{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}
.s{text-align:right}
a{color:var(--link);text-decoration:none}
a:hover{text-decoration:underline}
td.n a.d{font-weight:600}
footer{margin-top:1rem;color:var(--muted);font-size:.85rem}
@media (max-width:40rem){.m{display:none}}`

func (b *listingBody) appendHTMLHead(dst []byte) []byte {
	dst = append(dst, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"+
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"+
		"<meta name=\"color-scheme\" content=\"light dark\">\n<title>Index of "...)
	dst = b.appendDisplayPath(dst)
	dst = append(dst, "</title>\n<style>\n"...)
	dst = append(dst, listingStyle...)
	dst = append(dst, "\n</style>\n</head>\n<body>\n<main>\n<h1>Index of "...)
	dst = b.appendBreadcrumbs(dst)
	dst = append(dst, "</h1>\n<table>\n<thead><tr><th>Name</th><th class=\"s\">Size</th><th class=\"m\">Modified (UTC)</th></tr></thead>\n<tbody>\n"...)
	if b.dir != "." {
		dst = append(dst, `<tr><td class="n"><a class="d" href="`...)
		dst = b.appendParentURL(dst)
		dst = append(dst, "\">../</a></td><td class=\"s\"></td><td class=\"m\"></td></tr>\n"...)
	}
	return dst
}

func (b *listingBody) appendHTMLTail(dst []byte) []byte {
	dst = append(dst, "</tbody>\n</table>\n<footer>"...)
	dst = listingAppendCount(dst, b.dirs.n, "directory", "directories")
	dst = append(dst, ", "...)
	dst = listingAppendCount(dst, b.files.n, "file", "files")
	return append(dst, "</footer>\n</main>\n</body>\n</html>\n"...)
}

func listingAppendCount[N int | int64](dst []byte, n N, one, many string) []byte {
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ' ')
	if n == 1 {
		return append(dst, one...)
	}
	return append(dst, many...)
}

// appendHTMLRow appends an entry's table row: its link, size and time.
func (b *listingBody) appendHTMLRow(dst []byte, e *listingEntry) []byte {
	dst = append(dst, `<tr><td class="n"><a `...)
	if e.isDir() {
		dst = append(dst, `class="d" `...)
	}
	dst = append(dst, `href="`...)
	b.scratch = b.appendEntryURL(b.scratch[:0], e)
	dst = listingAppendHTML(dst, b.scratch)
	dst = append(dst, `">`...)
	dst = listingAppendHTMLName(dst, e.name)
	if e.isDir() {
		dst = append(dst, '/')
	}
	dst = append(dst, `</a></td><td class="s"`...)
	if !e.isDir() {
		dst = append(dst, ` title="`...)
		dst = listingAppendCount(dst, e.size, "byte", "bytes")
		dst = append(dst, `">`...)
		dst = listingAppendHumanSize(dst, e.size)
	} else {
		dst = append(dst, '>')
	}
	dst = append(dst, `</td><td class="m">`...)
	if e.mtime != listingNoTime {
		t := time.Unix(e.mtime, 0).UTC()
		dst = append(dst, `<time datetime="`...)
		dst = t.AppendFormat(dst, time.RFC3339)
		dst = append(dst, `">`...)
		dst = t.AppendFormat(dst, "2006-01-02 15:04")
		dst = append(dst, `</time>`...)
	}
	return append(dst, "</td></tr>\n"...)
}

// appendDisplayPath appends the directory's path as people read it
// ("/files/a/b/"), HTML-escaped.
func (b *listingBody) appendDisplayPath(dst []byte) []byte {
	dst = listingAppendHTMLName(dst, b.linkBase)
	if b.dir != "." {
		dst = listingAppendHTMLName(dst, b.dir)
		dst = append(dst, '/')
	}
	return dst
}

// appendBreadcrumbs appends the directory's path with a link on each of
// its ancestors: /files/ a/ b/.
func (b *listingBody) appendBreadcrumbs(dst []byte) []byte {
	if b.dir == "." {
		return listingAppendHTMLName(dst, b.linkBase)
	}
	dst = append(dst, `<a href="`...)
	dst = listingAppendHTMLName(dst, b.linkBase)
	dst = append(dst, `">`...)
	dst = listingAppendHTMLName(dst, b.linkBase)
	dst = append(dst, `</a>`...)
	// Each ancestor's URL is a prefix of dirURL, ending after its segment.
	rest, urlEnd := b.dir, len(b.linkBase)
	for {
		seg, after, more := strings.Cut(rest, "/")
		if !more {
			dst = listingAppendHTMLName(dst, seg)
			return append(dst, '/')
		}
		b.scratch = listingAppendSegment(b.scratch[:0], seg)
		urlEnd += len(b.scratch) + 1
		dst = append(dst, `<a href="`...)
		dst = listingAppendHTML(dst, b.dirURL[:urlEnd])
		dst = append(dst, `">`...)
		dst = listingAppendHTMLName(dst, seg)
		dst = append(dst, `/</a>`...)
		rest = after
	}
}

// appendParentURL appends the URL of the directory's parent.
func (b *listingBody) appendParentURL(dst []byte) []byte {
	// dirURL ends with "/"; the parent's ends at the slash before that.
	u := b.dirURL[:len(b.dirURL)-1]
	return append(dst, u[:bytes.LastIndexByte(u, '/')+1]...)
}

// listingAppendHTML appends s with the five characters that matter in
// HTML text and attribute values escaped.
func listingAppendHTML(dst, s []byte) []byte {
	for _, c := range s {
		switch c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&#34;"...)
		case '\'':
			dst = append(dst, "&#39;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// listingAppendHTMLName appends a name as HTML text: escaped, bytes that
// are not UTF-8 as U+FFFD, control characters as their Unicode control
// pictures (U+2400 and on, U+2421 for DEL), so that a newline or a tab
// can be seen.
func listingAppendHTMLName(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20:
				dst = utf8.AppendRune(dst, 0x2400+rune(c))
			case c == 0x7f:
				dst = utf8.AppendRune(dst, 0x2421)
			default:
				dst = listingAppendHTML(dst, []byte{c})
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// listingAppendHumanSize appends a size as people read it: bytes up to
// 1023, then KiB, MiB, ... with one decimal below 10.
func listingAppendHumanSize(dst []byte, n int64) []byte {
	if n < 1024 {
		dst = strconv.AppendInt(dst, n, 10)
		return append(dst, " B"...)
	}
	const units = "KMGTPE"
	v := float64(n) / 1024
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	decimals := 0
	if v < 10 {
		decimals = 1
	}
	dst = strconv.AppendFloat(dst, v, 'f', decimals, 64)
	return append(dst, ' ', units[u], 'i', 'B')
}
