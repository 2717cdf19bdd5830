package main

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// appendJSONLine appends ctx's access line as one JSON object (see
// --log-format): time, remote, method, target, status, bytes and
// duration_ms. It is written by hand, as the text line is, so that it
// allocates nothing: encoding/json would box and reflect on every request.
// A request fasthttp could not parse has a null method and target.
func appendJSONLine(b []byte, ctx *fasthttp.RequestCtx, parsed bool, now time.Time, elapsed time.Duration, size int64) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, logTimeFormat)
	b = append(b, `","remote":"`...)
	b = appendAddr(b, ctx.RemoteAddr()) // an address needs no escaping
	b = append(b, '"')
	if parsed {
		b = append(b, `,"method":`...)
		b = appendJSONString(b, ctx.Method())
		b = append(b, `,"target":`...)
		b = appendJSONString(b, ctx.Request.Header.RequestURI())
	} else {
		b = append(b, `,"method":null,"target":null`...)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, max(size, 0), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(elapsed.Microseconds())/1000, 'f', 3, 64)
	return append(b, "}\n"...)
}

// appendJSONMessage appends a message line as {"time":..,"msg":..}: the
// prefix (the request or connection it is about), then the message, each
// cut to its bound as in text lines.
func appendJSONMessage(b []byte, t time.Time, prefix, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, logTimeFormat)
	b = append(b, `","msg":`...)
	text := make([]byte, 0, len(prefix)+len(msg)+2)
	if prefix != "" {
		text = appendCut(text, prefix, logMaxContext)
		text = append(text, ": "...)
	}
	text = appendCut(text, msg, logMaxMessage)
	b = appendJSONString(b, text)
	return append(b, "}\n"...)
}

// appendCut appends at most limit bytes of s, and says how much was cut.
func appendCut(b []byte, s string, limit int) []byte {
	if len(s) <= limit {
		return append(b, s...)
	}
	b = append(b, s[:limit]...)
	b = append(b, "... ("...)
	b = strconv.AppendInt(b, int64(len(s)-limit), 10)
	return append(b, " more bytes)"...)
}

// appendJSONString appends s as a JSON string of printable ASCII only:
// quote and backslash escaped, every other byte outside 0x20-0x7e written
// as \u escapes of its character (a surrogate pair beyond U+FFFF), so no
// request can break the line, forge one, or reorder what a terminal shows
// (U+2028, U+202E). A byte that is not valid UTF-8 becomes U+FFFD, as
// encoding/json does: JSON strings cannot carry raw bytes.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		i += n
		if r >= 0x10000 {
			r -= 0x10000
			b = appendJSONRune(b, 0xd800+(r>>10))
			r = 0xdc00 + r&0x3ff
		}
		b = appendJSONRune(b, r)
	}
	return append(b, '"')
}

// appendJSONRune appends \uXXXX for r, at most U+FFFF.
func appendJSONRune(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
