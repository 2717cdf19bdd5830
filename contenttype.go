package main

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// contentTypes maps a lowercase extension to the Content-Type of the
// files that carry it. The table is compiled in, never read from the
// host's /etc/mime.types, so every machine answers alike. text/* types
// name UTF-8, the encoding of nearly every text file today.
var contentTypes = map[string]string{
	// Text and documents.
	"txt": "text/plain; charset=utf-8", "text": "text/plain; charset=utf-8", "log": "text/plain; charset=utf-8",
	"md": "text/markdown; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
	"csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8",
	"ics": "text/calendar; charset=utf-8", "vtt": "text/vtt; charset=utf-8",
	"html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
	"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
	"xml": "text/xml; charset=utf-8", "xhtml": "application/xhtml+xml",
	"json": "application/json", "map": "application/json", "webmanifest": "application/manifest+json",
	"yaml": "application/yaml", "yml": "application/yaml", "toml": "application/toml",
	"pdf": "application/pdf", "rtf": "application/rtf", "epub": "application/epub+zip",
	"doc": "application/msword", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xls": "application/vnd.ms-excel", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"ppt": "application/vnd.ms-powerpoint", "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"odt": "application/vnd.oasis.opendocument.text", "ods": "application/vnd.oasis.opendocument.spreadsheet",
	"odp": "application/vnd.oasis.opendocument.presentation",
	// Images.
	"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
	"avif": "image/avif", "bmp": "image/bmp", "ico": "image/vnd.microsoft.icon", "tif": "image/tiff", "tiff": "image/tiff",
	"svg": "image/svg+xml", "heic": "image/heic",
	// Audio and video.
	"mp3": "audio/mpeg", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "wav": "audio/wav",
	"flac": "audio/flac", "m4a": "audio/mp4", "aac": "audio/aac",
	"mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm", "ogv": "video/ogg", "mov": "video/quicktime",
	"mkv": "video/x-matroska", "avi": "video/x-msvideo",
	// Fonts.
	"woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
	// Archives and binaries.
	"zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip", "bz2": "application/x-bzip2",
	"xz": "application/x-xz", "zst": "application/zstd", "7z": "application/x-7z-compressed",
	"tar": "application/x-tar", "rar": "application/vnd.rar", "wasm": "application/wasm",
	"deb": "application/vnd.debian.binary-package", "rpm": "application/x-rpm", "iso": "application/x-iso9660-image",
}

// activeContentTypes can run script when a browser renders them: they are
// sent with Content-Security-Policy: sandbox, so an uploaded page never
// acts as this server's origin (no cookies, no storage, no same-origin
// requests).
var activeContentTypes = map[string]bool{
	"text/html; charset=utf-8":       true,
	"application/xhtml+xml":          true,
	"image/svg+xml":                  true,
	"text/xml; charset=utf-8":        true,
	"text/javascript; charset=utf-8": true,
}

// contentTypeOf returns the Content-Type of the file name by its
// extension, and whether it is active content. Lowercasing goes through a
// stack buffer, so the lookup allocates nothing.
func contentTypeOf(name string) (contentType string, active bool) {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 || strings.LastIndexByte(name, '/') > dot {
		return contentTypeBytes, false
	}
	ext := name[dot+1:]
	var buf [16]byte
	if len(ext) == 0 || len(ext) > len(buf) {
		return contentTypeBytes, false
	}
	for i := 0; i < len(ext); i++ {
		c := ext[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	ct, ok := contentTypes[string(buf[:len(ext)])]
	if !ok {
		return contentTypeBytes, false
	}
	return ct, activeContentTypes[ct]
}

// setFileType sets the headers that say what a file answer is: its
// Content-Type, never to be sniffed, and the sandbox for active types.
func setFileType(h *fasthttp.ResponseHeader, name string) {
	ct, active := contentTypeOf(name)
	h.SetContentType(ct)
	setHeader(h, headerNoSniff, "nosniff")
	if active {
		setHeader(h, fasthttp.HeaderContentSecurityPolicy, "sandbox")
	}
}
