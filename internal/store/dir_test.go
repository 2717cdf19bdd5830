package store

import (
	"context"
	"os"
	"testing"
)

// TestWriteCleanupOnPanic: whatever ends a write early, a panic in the
// body's reader included, leaves neither the temporary file nor the
// parents it created.
func TestWriteCleanupOnPanic(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the body's panic did not reach the caller")
			}
		}()
		_, _ = d.Put(context.Background(), "p1/p2/f", panicReader{}, -1, Cond{})
	}()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 0 {
		t.Errorf("after a panicking write the root holds %v (err %v), want nothing", entries, err)
	}
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("body reader broke") }
