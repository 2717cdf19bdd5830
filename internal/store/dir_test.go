package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

// tempDir returns a Dir on a fresh directory, closed when the test ends,
// and the directory.
func tempDir(t testing.TB) (*Dir, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir
}

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

// BenchmarkDirList1000 lists a directory of 1,000 files: what a listing
// costs the directory backend.
func BenchmarkDirList1000(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := os.WriteFile(fmt.Sprintf("%s/report-%04d.txt", dir, i), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	d, err := NewDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := d.List(context.Background(), ".", func(Info) error { n++; return nil }); err != nil || n != 1000 {
			b.Fatalf("listed %d, %v", n, err)
		}
	}
}

// TestDirOutOfDescriptorsIsUnavailable: a request that finds no
// descriptor left (more requests hold files at once than the server kept
// descriptors for) gets ErrUnavailable, a 503 that may succeed again,
// not a 500.
func TestDirOutOfDescriptorsIsUnavailable(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		err := dirError(&fs.PathError{Op: "openat", Path: "f", Err: errno})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v: got %v, want ErrUnavailable", errno, err)
		}
	}
}
