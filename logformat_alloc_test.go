//go:build !race

package main

import (
	"io"
	"testing"
	"time"
)

// TestLogJSONAllocations: a JSON access line costs no allocation, as a
// text one does not.
func TestLogJSONAllocations(t *testing.T) {
	for _, style := range []logStyle{{}, {json: true}, {untimed: true}} {
		l := newStyledLog(io.Discard, false, style)
		ctx := logTestCtx(l, "GET", "/files/\"x\"/\xff\u2028")
		e := ended{start: time.Now(), end: time.Now(), sent: 5}
		if n := testing.AllocsPerRun(1000, func() { l.request(ctx, e) }); n != 0 {
			t.Errorf("%+v: %.1f allocations per line, want 0", style, n)
		}
		l.Close()
	}
}
