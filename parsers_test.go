package main

import (
	"errors"
	"github.com/httpbox/httpbox/internal/store"
	"io/fs"
	"math"
	"math/bits"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"
)

// Tests and fuzz targets for every parser the project owns: request paths,
// Range, Accept-Encoding and --max-body-size.

func TestResolvePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want string // "" means refused
	}{
		{"a.txt", "a.txt"},
		{"a/b/c.txt", "a/b/c.txt"},
		{"a%2Fb", "a/b"},
		{"sp%20ace", "sp ace"},
		{"%252e%252e", "%2e%2e"}, // decoded once: a literal name
		{"..", ""},
		{"../x", ""},
		{"%2e%2e/x", ""},
		{"a/../../x", ""},
		{"a/..", ""},
		{".", ""},
		{"./a", ""},
		{"a/./b", ""},
		{"", ""},
		{"/etc/passwd", ""},
		{"%2fetc", ""},
		{"a//b", ""},
		{"a/", ""},
		{"a%5cb", ""},
		{"..%5c..%5cx", ""},
		{"a%00b", ""},
		{"%zz", ""},
		{"%", ""},
		{"caf%E9", "caf\xe9"}, // Latin-1 on disk: listed, so it can be fetched
		{"%FF/%FE", "\xff/\xfe"},
		{"%2e%FF", ".\xff"},
		{"a/%FF%2e%2e", "a/\xff.."},
		{store.TempPrefix + "x", ""},
		{"d/" + store.TempPrefix + "x", ""},
		{strings.Repeat("n", 255), strings.Repeat("n", 255)},
		{"d/" + strings.Repeat("n", 256), ""},
	}
	files := newFileHandler(testBackend(t, t.TempDir()), nil, 0)
	for _, tt := range tests {
		got, err := files.name(tt.raw)
		if (err == nil) != (tt.want != "") || (err == nil && got != tt.want) {
			t.Errorf("name(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

// FuzzResolvePath checks that whatever a request's path resolves to is a clean local
// name that cannot escape a root.
func FuzzResolvePath(f *testing.F) {
	for _, seed := range []string{
		"a/b.txt",
		"../etc/passwd",         // plain traversal
		"%2e%2e%2fetc%2fpasswd", // encoded dots and slash (caddy's table)
		"%2e%2e/%2e%2e/x",       // encoded dots only
		"..%5c..%5cwin.ini",     // backslash, Windows separator (fasthttp issue 1691)
		"%252e%252e%252f",       // double encoding must be decoded only once
		"//etc/passwd",          // empty segment / absolute
		"/abs",                  // absolute
		"a/./b",                 // dot segment
		"a%00.txt",              // NUL truncation
		"C:%5cx",                // drive letter
		"\u2025/x",              // two-dot leader, looks like ..
		"a/.httpbox-tmp-1",      // reserved temp name
		"%",                     // truncated escape
	} {
		f.Add(seed)
	}
	root := f.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "in"), 0o755); err != nil {
		f.Fatal(err)
	}
	r, err := os.OpenRoot(filepath.Join(root, "in"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	files := newFileHandler(testBackend(f, filepath.Join(root, "in")), nil, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := files.name(raw)
		if err != nil {
			return
		}
		if !filepath.IsLocal(name) || !fs.ValidPath(strings.ToValidUTF8(name, "?")) || strings.ContainsAny(name, "\x00\\") || name == "." {
			t.Fatalf("resolvePath(%q) = %q: not a clean local path", raw, name)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if strings.HasPrefix(seg, store.TempPrefix) {
				t.Fatalf("resolvePath(%q) = %q: reserved temp name accepted", raw, name)
			}
		}
		// The lexical check agrees with the real wall: the name stays
		// inside the root (it may be missing, but never "escapes").
		if _, err := r.Lstat(name); err != nil && !isNotExistOrNotDir(err) {
			t.Fatalf("resolvePath(%q) = %q: root says %v", raw, name, err)
		}
	})
}

// isNotExistOrNotDir reports whether os.Root's err says the name is
// missing, or has a file for a parent, or is too long: anything but
// an escape.
func isNotExistOrNotDir(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h           string
		size        int64
		first, last int64
		kind        rangeKind
	}{
		{"bytes=0-0", 10, 0, 0, rangeOne},
		{"bytes=2-4", 10, 2, 4, rangeOne},
		{"bytes=5-", 10, 5, 9, rangeOne},
		{"bytes=-3", 10, 7, 9, rangeOne},
		{"bytes=-30", 10, 0, 9, rangeOne},
		{"bytes=8-30", 10, 8, 9, rangeOne},
		{"BYTES=1-2", 10, 1, 2, rangeOne},
		{"bytes= 1-2", 10, 1, 2, rangeOne},
		{"bytes=10-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=10-20", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=-1", 0, 0, 0, rangeNone}, // satisfiable, but no 206 describes zero bytes
		{"bytes=-0", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=4-2", 10, 0, 0, rangeNone},
		{"bytes=0-1,4-5", 10, 0, 0, rangeNone},
		{"bytes=a-b", 10, 0, 0, rangeNone},
		{"bytes=-", 10, 0, 0, rangeNone},
		{"bytes=+1-2", 10, 0, 0, rangeNone},
		{"bytes=99999999999999999999-", 10, 0, 0, rangeNone},
		{"items=0-1", 10, 0, 0, rangeNone},
		{"bytes", 10, 0, 0, rangeNone},
		{"", 10, 0, 0, rangeNone},
	}
	for _, tt := range tests {
		first, last, kind := parseRange([]byte(tt.h), tt.size)
		if kind != tt.kind || (kind == rangeOne && (first != tt.first || last != tt.last)) {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v; want %d, %d, %v", tt.h, tt.size, first, last, kind, tt.first, tt.last, tt.kind)
		}
	}
}

// FuzzParseRange checks that a satisfiable range always lies inside the
// body, whatever the header says.
func FuzzParseRange(f *testing.F) {
	for _, seed := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes=--1", "bytes=9223372036854775807-"} {
		f.Add(seed, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		first, last, kind := parseRange([]byte(h), size)
		if kind == rangeOne && (first < 0 || last < first || last >= size) {
			t.Fatalf("parseRange(%q, %d) = [%d, %d]: outside the body", h, size, first, last)
		}
	})
}

// acceptsGzip reports whether one Accept-Encoding value accepts gzip.
func acceptsGzip(h []byte) bool {
	accept, _ := gzipListed(h)
	return accept
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{
		"gzip": true, "GzIp": true, "x-gzip": true, "deflate, gzip": true, "gzip;q=0.5": true,
		"gzip ; q=1": true, "br;q=1, gzip;q=0.1": true, "gzip;q=0": false, "gzip;Q=0.0": false,
		"gzip;q=0.": false, "gzip;q=0.000": false, "br": false, "": false, "gzip-not": false,
		"identity, br": false, ",,gzip": true,
	} {
		if got := acceptsGzip([]byte(h)); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// FuzzAcceptsGzip checks the parser never panics and agrees with a plain
// reading: it never accepts a header that does not mention gzip.
func FuzzAcceptsGzip(f *testing.F) {
	for _, seed := range []string{"gzip", "gzip;q=0", "br, GZIP;q=0.5", ";;,,", "gzip;q="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if acceptsGzip([]byte(h)) && !strings.Contains(strings.ToLower(h), "gzip") {
			t.Fatalf("acceptsGzip(%q) = true without gzip in it", h)
		}
	})
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64 // 0 means an error
	}{
		{"1", 1}, {"100", 100}, {"1KiB", 1024}, {"2MiB", 2 << 20}, {"1GiB", 1 << 30},
		{"1KB", 1000}, {"5MB", 5e6}, {"2GB", 2e9}, {"10B", 0},
		{"", 0}, {"0", 0}, {"-5", 0}, {"1.5GiB", 0}, {"10XB", 0}, {"1kib", 0}, {"GiB", 0},
		{" 1", 0}, {"99999999999GiB", 0}, {"1e3", 0},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != (tt.want != 0) || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseSize checks that an accepted size is positive, that a plain
// number parses to itself, and a number with a unit to its multiple.
func FuzzParseSize(f *testing.F) {
	for _, seed := range []string{"1", "1GiB", "8EB", "9223372036854775807", "9223372036854775808",
		"9223372036854775807KiB", "0KB", "0", "007", "8589934591GiB", "8589934592GiB"} {
		f.Add(seed)
	}
	units := map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n <= 0 {
			t.Fatalf("parseSize(%q) = %d: accepted a non-positive size", s, n)
		}
		num, mult := s, int64(1)
		for suffix, m := range units {
			if before, ok := strings.CutSuffix(s, suffix); ok {
				num, mult = before, m
			}
		}
		if num == "" || strings.Trim(num, "0123456789") != "" {
			return // not digits and a unit: only positivity is checked
		}
		// Digits: the size is their value times the unit, when that is a
		// positive int64, and refused otherwise.
		v, perr := strconv.ParseInt(num, 10, 64)
		hi, lo := bits.Mul64(uint64(v), uint64(mult))
		switch fits := perr == nil && v > 0 && hi == 0 && lo <= math.MaxInt64; {
		case fits && (err != nil || n != int64(lo)):
			t.Fatalf("parseSize(%q) = %d, %v; want %d", s, n, err, int64(lo))
		case !fits && err == nil:
			t.Fatalf("parseSize(%q) = %d; want an error (zero, or too large for int64)", s, n)
		}
	})
}

// FuzzUnescape checks the echo route's allocation-free decoder against
// net/url, for every path that passes validEscapes.
func FuzzUnescape(f *testing.F) {
	for _, seed := range []string{"plain", "a%20b", "%C3%B6", "%zz", "50%", "%2F%2f", "+"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validEscapes([]byte(s)) {
			return
		}
		want, err := url.PathUnescape(s)
		if err != nil {
			t.Fatalf("validEscapes accepted %q, which net/url refuses: %v", s, err)
		}
		var resp fasthttp.Response
		appendUnescaped(&resp, []byte(s))
		if got := string(resp.Body()); got != want {
			t.Fatalf("appendUnescaped(%q) = %q, want %q", s, got, want)
		}
	})
}
