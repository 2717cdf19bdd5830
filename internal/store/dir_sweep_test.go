package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sweepReports collects what a sweep reports.
type sweepReports struct {
	mu    sync.Mutex
	lines []string
}

func (r *sweepReports) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *sweepReports) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// sweepChain makes depth nested directories named d under r, through
// handles (the path is longer than the system's limit), and returns a
// handle on the deepest.
func sweepChain(t testing.TB, r *os.Root, depth int) *os.Root {
	t.Helper()
	cur := r
	for i := range depth {
		if err := cur.Mkdir("d", 0o755); err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		next, err := cur.OpenRoot("d")
		if err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		if cur != r {
			cur.Close()
		}
		cur = next
	}
	return cur
}

// staleFile writes name under r and dates it an hour back, as a file
// left by an earlier process.
func staleFile(t testing.TB, r *os.Root, name string) {
	t.Helper()
	if err := r.WriteFile(name, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := r.Chtimes(name, old, old); err != nil {
		t.Fatal(err)
	}
}

func sweepExists(t testing.TB, r *os.Root, name string) bool {
	t.Helper()
	_, err := r.Lstat(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// countOpens makes w count, and check, the directories it opens.
func countOpens(t testing.TB, w *sweeper) *int {
	opens := new(int)
	w.openDir = func(parent *os.Root, name string) (*os.Root, error) {
		*opens++
		if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			t.Errorf("opened %q: want one name, relative to its parent", name)
		}
		return parent.OpenRoot(name)
	}
	return opens
}

// TestSweepDeepTreeIsLinear: a tree 3,000 directories deep costs one
// open per directory, each of a single name relative to a handle on its
// parent (so no level walks the path from the root again), with one
// handle held at a time; the stale file at the bottom goes, the rest
// stays.
func TestSweepDeepTreeIsLinear(t *testing.T) {
	const depth = 3000
	s, _ := tempDir(t)
	bottom := sweepChain(t, s.root, depth)
	defer bottom.Close()
	staleFile(t, bottom, TempPrefix+"stale")
	staleFile(t, bottom, "kept")

	var reports sweepReports
	w := s.newSweeper(reports.printf)
	opens := countOpens(t, w)
	if n := w.run(); n != 1 {
		t.Errorf("removed %d, want 1", n)
	}
	if *opens != depth {
		t.Errorf("opened %d directories for a tree of %d: want one open each", *opens, depth)
	}
	if w.peakOpen > 1 {
		t.Errorf("held %d directory handles at once down a single chain, want 1", w.peakOpen)
	}
	if len(w.held) != 0 {
		t.Errorf("%d directory handles left open", len(w.held))
	}
	if got := reports.get(); len(got) != 0 {
		t.Errorf("reports: %q, want none", got)
	}
	if sweepExists(t, bottom, TempPrefix+"stale") {
		t.Error("the stale temporary file at the bottom survived")
	}
	if !sweepExists(t, bottom, "kept") {
		t.Error("an ordinary file at the bottom was removed")
	}
}

// TestSweepKeepsLiveUploadTemps: a tracked upload's temporary file stays
// however old it looks, whatever the path the upload named its directory
// by, and a real upload stalled across a sweep completes whole.
func TestSweepKeepsLiveUploadTemps(t *testing.T) {
	s, _ := tempDir(t)
	if err := s.root.Mkdir("d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.root.Symlink("d", "link"); err != nil {
		t.Fatal(err)
	}
	staleFile(t, s.root, "d/"+TempPrefix+"tracked")
	staleFile(t, s.root, "d/"+TempPrefix+"viaLink")
	staleFile(t, s.root, "d/"+TempPrefix+"stale")
	s.track("d/"+TempPrefix+"tracked", nil)
	s.track("link/"+TempPrefix+"viaLink", nil)

	// A real upload, stalled after its first bytes, dated an hour back.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(context.Background(), "d/up", pr, -1, Cond{})
		done <- err
	}()
	if _, err := pw.Write([]byte("first ")); err != nil {
		t.Fatal(err)
	}
	var upTemp string
	for deadline := time.Now().Add(10 * time.Second); upTemp == ""; {
		if time.Now().After(deadline) {
			t.Fatal("the upload's temporary file did not appear")
		}
		s.mu.Lock()
		for tmp := range s.uploads {
			if strings.HasPrefix(tmp, "d/") && tmp != "d/"+TempPrefix+"tracked" {
				upTemp = tmp
			}
		}
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	old := time.Now().Add(-time.Hour)
	if err := s.root.Chtimes(upTemp, old, old); err != nil {
		t.Fatal(err)
	}

	var reports sweepReports
	if n := s.Cleanup(reports.printf); n != 1 {
		t.Errorf("removed %d, want 1 (the untracked stale file)", n)
	}
	for _, name := range []string{"d/" + TempPrefix + "tracked", "d/" + TempPrefix + "viaLink", upTemp} {
		if !sweepExists(t, s.root, name) {
			t.Errorf("%s: a live upload's temporary file was removed", name)
		}
	}
	if sweepExists(t, s.root, "d/"+TempPrefix+"stale") {
		t.Error("the untracked stale file survived")
	}
	if got := reports.get(); len(got) != 0 {
		t.Errorf("reports: %q, want none", got)
	}

	if _, err := pw.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("the stalled upload failed: %v", err)
	}
	if got, err := s.root.ReadFile("d/up"); err != nil || string(got) != "first second" {
		t.Errorf("d/up: got %q (%v), want %q", got, err, "first second")
	}
}

// TestSweepKeepsTempsOfWritesRacingIt: writes that start while sweeps run
// never lose their temporary file: a write tracks its name before the
// file exists.
func TestSweepKeepsTempsOfWritesRacingIt(t *testing.T) {
	s, _ := tempDir(t)
	staleFile(t, s.root, TempPrefix+"old")
	stop := make(chan struct{})
	swept := make(chan int)
	go func() {
		total := 0
		for {
			select {
			case <-stop:
				swept <- total
				return
			default:
				total += s.Cleanup(t.Errorf)
			}
		}
	}()
	for i := range 300 {
		body := strings.Repeat("x", 1+i%4096)
		if _, err := s.Put(context.Background(), fmt.Sprintf("w/%d", i%7), strings.NewReader(body), -1, Cond{}); err != nil {
			t.Fatalf("write %d while sweeps ran: %v", i, err)
		}
	}
	close(stop)
	if total := <-swept; total != 1 {
		t.Errorf("the sweeps removed %d files, want only the stale one", total)
	}
}

// TestSweepDoesNotFollowSymlinks: links to directories outside the root,
// inside it, to itself, a link named like a temporary file, and
// directories swapped for links while the walk runs: nothing is reached
// through a link, and none of this is an error.
func TestSweepDoesNotFollowSymlinks(t *testing.T) {
	s, dir := tempDir(t)
	outside := t.TempDir()
	out, err := os.OpenRoot(outside)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	staleFile(t, out, TempPrefix+"outside")
	staleFile(t, out, "sub/"+TempPrefix+"outside")

	rel, err := filepath.Rel(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"in", "in/inner", "swapOut", "swapIn", "other"} {
		if err := s.root.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	staleFile(t, s.root, "in/"+TempPrefix+"inside")
	staleFile(t, s.root, "in/inner/"+TempPrefix+"inside")
	for link, target := range map[string]string{
		"abs":                  outside,
		"rel":                  rel,
		"self":                 ".",
		"up":                   "..",
		"toIn":                 "in",
		TempPrefix + "link":    filepath.Join(outside, TempPrefix+"outside"),
		TempPrefix + "dirLink": filepath.Join(outside, "sub"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}

	var reports sweepReports
	w := s.newSweeper(reports.printf)
	var opened []string
	w.openDir = func(parent *os.Root, name string) (*os.Root, error) {
		opened = append(opened, name)
		// Swap the directory for a link just before it is opened.
		switch name {
		case "swapOut":
			if err := parent.Rename(name, name+".was"); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(filepath.Join(outside, "sub"), filepath.Join(dir, name)); err != nil {
				t.Error(err)
			}
		case "swapIn":
			if err := parent.Rename(name, name+".was"); err != nil {
				t.Error(err)
			}
			if err := parent.Symlink("in", name); err != nil {
				t.Error(err)
			}
		}
		return parent.OpenRoot(name)
	}
	if n := w.run(); n != 2 {
		t.Errorf("removed %d, want 2 (in/%sinside, in/inner/%[2]sinside)", n, TempPrefix)
	}
	for _, name := range []string{"in/" + TempPrefix + "inside", "in/inner/" + TempPrefix + "inside"} {
		if sweepExists(t, s.root, name) {
			t.Errorf("%s: stale inside the root, and not removed", name)
		}
	}
	for _, name := range []string{TempPrefix + "outside", "sub/" + TempPrefix + "outside"} {
		if !sweepExists(t, out, name) {
			t.Errorf("%s outside the root was removed through a link", name)
		}
	}
	for _, link := range []string{TempPrefix + "link", TempPrefix + "dirLink"} {
		if !sweepExists(t, s.root, link) {
			t.Errorf("the link %s was removed", link)
		}
	}
	for _, name := range opened {
		switch name {
		case "in", "inner", "other", "swapOut", "swapIn":
		default:
			t.Errorf("opened %q, a link", name)
		}
	}
	// A swapped directory's open goes through the link (os.Root follows
	// it), but what it finds is not entered: in/inner is opened once.
	if len(opened) != 5 {
		t.Errorf("opened %q, want each of in, inner, other, swapOut, swapIn once", opened)
	}
	if got := reports.get(); len(got) != 0 {
		t.Errorf("reports: %q, want none", got)
	}
}

// TestSweepReportsErrors: a directory that cannot be opened is reported,
// by its path under the root, and the sweep goes on; after ten reports
// the rest are counted; what vanished meanwhile is not an error.
func TestSweepReportsErrors(t *testing.T) {
	s, _ := tempDir(t)
	const bad = 15
	for i := range bad {
		if err := s.root.MkdirAll(fmt.Sprintf("a/bad%02d", i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"gone", "good"} {
		if err := s.root.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	staleFile(t, s.root, "good/"+TempPrefix+"stale")
	staleFile(t, s.root, "gone/"+TempPrefix+"stale")

	var reports sweepReports
	w := s.newSweeper(reports.printf)
	w.openDir = func(parent *os.Root, name string) (*os.Root, error) {
		switch {
		case strings.HasPrefix(name, "bad"):
			return nil, &fs.PathError{Op: "openat", Path: name, Err: syscall.EACCES}
		case name == "gone":
			if err := parent.RemoveAll(name); err != nil {
				t.Error(err)
			}
		}
		return parent.OpenRoot(name)
	}
	if n := w.run(); n != 1 {
		t.Errorf("removed %d, want 1 (good/%sstale)", n, TempPrefix)
	}
	got := reports.get()
	if len(got) != sweepMaxReports+1 {
		t.Fatalf("got %d reports %q, want %d and a count", len(got), got, sweepMaxReports)
	}
	for _, line := range got[:sweepMaxReports] {
		if !strings.HasPrefix(line, "sweeping stale temporary files: openat a/bad") ||
			!strings.HasSuffix(line, ": "+syscall.EACCES.Error()) {
			t.Errorf("report %q: want the operation, the path under the root, and the cause", line)
		}
	}
	if want := fmt.Sprintf("%d more error(s)", bad-sweepMaxReports); !strings.Contains(got[sweepMaxReports], want) {
		t.Errorf("last report %q: want it to say %q", got[sweepMaxReports], want)
	}
	if sweepExists(t, s.root, "good/"+TempPrefix+"stale") {
		t.Error("the errors stopped the sweep: the stale file in good survived")
	}
}

// TestSweepStopsWhenRootCloses: once the server shuts down and closes its
// root, the sweep ends without reporting the closing as errors.
func TestSweepStopsWhenRootCloses(t *testing.T) {
	s, _ := tempDir(t)
	const dirs = 300
	for i := range dirs {
		if err := s.root.MkdirAll(fmt.Sprintf("a/%03d", i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var reports sweepReports
	w := s.newSweeper(reports.printf)
	opens := 0
	w.openDir = func(parent *os.Root, name string) (*os.Root, error) {
		if opens++; opens == 10 {
			s.root.Close()
		}
		return parent.OpenRoot(name)
	}
	w.run()
	if opens >= dirs {
		t.Errorf("opened %d directories after the root closed at the 10th, want the sweep stopped", opens)
	}
	if got := reports.get(); len(got) != 0 {
		t.Errorf("reports: %q, want none", got)
	}
}

// TestSweepBoundsHandles: a tree whose every level still has a
// subdirectory to visit after the deep one would need a handle per level;
// past maxOpen the sweep holds O(log depth), reopens the others from
// their nearest open ancestor at a cost of O(depth log depth) opens in
// all, and still removes every stale file.
func TestSweepBoundsHandles(t *testing.T) {
	const depth, maxOpen = 200, 3
	s, _ := tempDir(t)
	want := 0
	cur := s.root
	for range depth {
		for _, d := range []string{"a", "b"} {
			if err := cur.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// The sweep visits a directory's subdirectories from the last one
		// listed: going on down that one keeps every level's handle
		// wanted.
		f, err := cur.Open(".")
		if err != nil {
			t.Fatal(err)
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		spine, leaf := names[len(names)-1], names[0]
		staleFile(t, cur, path.Join(leaf, TempPrefix+"leaf"))
		staleFile(t, cur, TempPrefix+"level")
		want += 2
		next, err := cur.OpenRoot(spine)
		if err != nil {
			t.Fatal(err)
		}
		if cur != s.root {
			cur.Close()
		}
		cur = next
	}
	cur.Close()

	var reports sweepReports
	w := s.newSweeper(reports.printf)
	w.maxOpen = maxOpen
	opens := countOpens(t, w)
	if n := w.run(); n != want {
		t.Errorf("removed %d, want %d", n, want)
	}
	// Past maxOpen, one handle per power of two of depth, and the new one.
	if limit := max(maxOpen, bits.Len(depth)+1); w.peakOpen > limit {
		t.Errorf("held %d handles at once, want at most %d", w.peakOpen, limit)
	}
	if *opens <= 2*depth {
		t.Errorf("opened %d directories of %d: the limit was never reached, the test tests nothing", *opens, 2*depth)
	}
	// Climbing back reopens O(depth log depth) directories, not O(depth²).
	if limit := 2 * depth * bits.Len(depth); *opens > limit {
		t.Errorf("opened %d directories of %d, want at most %d", *opens, 2*depth, limit)
	}
	t.Logf("opened %d directories of %d, holding at most %d handles", *opens, 2*depth, w.peakOpen)
	if len(w.held) != 0 {
		t.Errorf("%d directory handles left open", len(w.held))
	}
	if got := reports.get(); len(got) != 0 {
		t.Errorf("reports: %q, want none", got)
	}
}

// BenchmarkSweepDeep: the time per directory stays flat with depth.
func BenchmarkSweepDeep(b *testing.B) {
	for _, depth := range []int{1000, 2000, 3000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			s, _ := tempDir(b)
			sweepChain(b, s.root, depth).Close()
			b.ResetTimer()
			for b.Loop() {
				w := s.newSweeper(b.Fatalf)
				w.run()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(depth), "ns/dir")
		})
	}
}

// BenchmarkSweepComb: the worst shape, every level holding a directory
// to visit after the deep one, with the default handle limit.
func BenchmarkSweepComb(b *testing.B) {
	for _, depth := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			s, _ := tempDir(b)
			cur := s.root
			for range depth {
				for _, d := range []string{"a", "b"} {
					if err := cur.Mkdir(d, 0o755); err != nil {
						b.Fatal(err)
					}
				}
				f, err := cur.Open(".")
				if err != nil {
					b.Fatal(err)
				}
				names, err := f.Readdirnames(-1)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				next, err := cur.OpenRoot(names[len(names)-1])
				if err != nil {
					b.Fatal(err)
				}
				if cur != s.root {
					cur.Close()
				}
				cur = next
			}
			cur.Close()
			b.ResetTimer()
			for b.Loop() {
				w := s.newSweeper(b.Fatalf)
				w.run()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*depth), "ns/dir")
		})
	}
}

// BenchmarkSweepWalkDirDeep is the walk the sweep replaced, fs.WalkDir on
// the root, for comparison: every level opens its path from the root.
func BenchmarkSweepWalkDirDeep(b *testing.B) {
	for _, depth := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			s, _ := tempDir(b)
			sweepChain(b, s.root, depth).Close()
			b.ResetTimer()
			for b.Loop() {
				_ = fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), TempPrefix) {
						_ = s.root.Remove(p)
					}
					return nil
				})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(depth), "ns/dir")
		})
	}
}
