package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConformance runs the one suite of Backend semantics (the doc
// comments in store.go) against every backend, the way gocloud.dev's
// blob/drivertest does: a backend passes when its harness does.
func TestConformance(t *testing.T) {
	backends := []struct {
		name string
		new  func(t *testing.T) Backend
	}{
		{"dir", func(t *testing.T) Backend {
			t.Helper()
			d, err := NewDir(t.TempDir())
			if err != nil {
				t.Fatalf("NewDir: %v", err)
			}
			t.Cleanup(func() {
				if err := d.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			return d
		}},
		{"s3", func(t *testing.T) Backend { return newS3ForTest(t) }},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			runConformance(t, bk.new)
		})
	}
}

// runConformance runs every conformance subtest. Each leaf subtest gets a
// fresh, empty backend from newBackend (a new directory, a new bucket),
// so that they can run in parallel and none sees another's leftovers.
func runConformance(t *testing.T, newBackend func(t *testing.T) Backend) {
	groups := []struct {
		name string
		run  func(t *testing.T, nb func(t *testing.T) Backend)
	}{
		{"PutOpen", testPutOpen},
		{"AtomicReplace", testAtomicReplace},
		{"Created", testCreated},
		{"CondHolds", testCondHolds},
		{"FailingBody", testFailingBody},
		{"Conflicts", testConflicts},
		{"Delete", testDelete},
		{"Directories", testDirectories},
		{"List", testList},
		{"Move", testMove},
		{"Copy", testCopy},
		{"Props", testProps},
		{"Ranges", testRanges},
		{"Errors", testErrors},
		{"Cleanup", testCleanup},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, newBackend) })
	}
}

// sub runs fn as a parallel subtest with a fresh backend.
func sub(t *testing.T, name string, nb func(t *testing.T) Backend, fn func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t, nb(t))
	})
}

// ---- helpers ----

// put stores content as name, unconditionally, and reports whether it
// created the name.
func put(t *testing.T, b Backend, name, content string) (created bool) {
	t.Helper()
	created, err := b.Put(t.Context(), name, strings.NewReader(content), int64(len(content)), Cond{})
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	return created
}

// get returns the whole content of name, read as the HTTP side reads it.
func get(t *testing.T, b Backend, name string) []byte {
	t.Helper()
	obj, err := b.Open(t.Context(), name, Whole)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return readRange(t, obj, 0, -1)
}

// wantContent checks that name holds exactly want.
func wantContent(t *testing.T, b Backend, name, want string) {
	t.Helper()
	if got := get(t, b, name); string(got) != want {
		t.Errorf("content of %q: got %q, want %q", name, abbrev(got), abbrev([]byte(want)))
	}
}

// readRange reads from obj the bytes of the range (start, length) as
// Range defines it, the way the HTTP side does: from Data when the file
// is in memory, else from Body, skipping what lies between Offset and the
// range's start (by seeking when Body can). It closes Body.
func readRange(t *testing.T, obj Object, start, length int64) []byte {
	t.Helper()
	data, err := readObject(obj, start, length)
	if err != nil {
		t.Fatalf("reading range (%d, %d) of an object of %d bytes: %v", start, length, obj.Size, err)
	}
	return data
}

// readObject is readRange without a testing.T, for goroutines.
func readObject(obj Object, start, length int64) ([]byte, error) {
	if obj.Body != nil {
		defer obj.Body.Close()
	}
	size := obj.Size
	if start < 0 {
		start = max(size+start, 0)
		length = size - start
	}
	if length < 0 {
		length = size - start
	}
	if start+length > size {
		return nil, fmt.Errorf("range ends at %d, past the size %d", start+length, size)
	}
	if obj.Data != nil {
		if int64(len(obj.Data)) != size {
			return nil, fmt.Errorf("Data holds %d bytes, Size says %d", len(obj.Data), size)
		}
		return bytes.Clone(obj.Data[start : start+length]), nil
	}
	if obj.Body == nil {
		return nil, errors.New("Object has neither Data nor Body")
	}
	if obj.Offset > start {
		return nil, fmt.Errorf("Body starts at offset %d, after the range's start %d", obj.Offset, start)
	}
	if skip := start - obj.Offset; skip > 0 {
		if s, ok := obj.Body.(io.Seeker); ok {
			// Relative to where Body is, which is Offset by definition,
			// so this holds whether Body's offsets are the file's or not.
			if _, err := s.Seek(skip, io.SeekCurrent); err != nil {
				return nil, fmt.Errorf("seeking %d bytes: %w", skip, err)
			}
		} else if _, err := io.CopyN(io.Discard, obj.Body, skip); err != nil {
			return nil, fmt.Errorf("skipping %d bytes: %w", skip, err)
		}
	}
	buf := make([]byte, length)
	if n, err := io.ReadFull(obj.Body, buf); err != nil {
		return nil, fmt.Errorf("Body gave %d of the %d bytes wanted: %w", n, length, err)
	}
	return buf, nil
}

// stat returns name's Info, failing the test on an error.
func stat(t *testing.T, b Backend, name string) Info {
	t.Helper()
	fi, err := b.Stat(t.Context(), name)
	if err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	return fi
}

// wantDir checks that name is a directory.
func wantDir(t *testing.T, b Backend, name string) {
	t.Helper()
	fi, err := b.Stat(t.Context(), name)
	if err != nil {
		t.Errorf("Stat(%q): got error %v, want a directory", name, err)
		return
	}
	if !fi.IsDir {
		t.Errorf("Stat(%q).IsDir: got false, want true (a directory)", name)
	}
	if fi.Size != 0 || fi.ETag != "" {
		t.Errorf("Stat(%q) of a directory: got Size %d, ETag %q, want 0 and empty", name, fi.Size, fi.ETag)
	}
}

// wantGone checks that every name is ErrNotExist to Stat.
func wantGone(t *testing.T, b Backend, names ...string) {
	t.Helper()
	for _, name := range names {
		fi, err := b.Stat(t.Context(), name)
		if !errors.Is(err, ErrNotExist) {
			t.Errorf("Stat(%q): got %+v, error %v, want ErrNotExist", name, fi, err)
		}
	}
}

// wantNoEntry checks that each name, under a file, is nothing: Stat says
// ErrNotExist or ErrNotDir.
func wantNoEntry(t *testing.T, b Backend, names ...string) {
	t.Helper()
	for _, name := range names {
		fi, err := b.Stat(t.Context(), name)
		if !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrNotDir) {
			t.Errorf("Stat(%q): got %+v, error %v, want ErrNotExist or ErrNotDir", name, fi, err)
		}
	}
}

// wantErr checks that err is (wraps) want; what says which call it was.
func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// list returns the entries of dir, in the order List gave them.
func list(t *testing.T, b Backend, dir string) []Info {
	t.Helper()
	var got []Info
	err := b.List(t.Context(), dir, func(fi Info) error {
		got = append(got, fi)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return got
}

// names returns the entries' names, a directory's with a trailing slash.
func names(infos []Info) []string {
	out := make([]string, len(infos))
	for i, fi := range infos {
		out[i] = fi.Name
		if fi.IsDir {
			out[i] += "/"
		}
	}
	return out
}

// makeTree creates under base the entries of spec: "x/" is a directory
// made with Mkdir (its parent must be made first), anything else a file
// whose content is contentOf(the entry).
func makeTree(t *testing.T, b Backend, base string, spec ...string) {
	t.Helper()
	for _, e := range spec {
		name := path.Join(base, e)
		if strings.HasSuffix(e, "/") {
			if err := b.Mkdir(t.Context(), name); err != nil {
				t.Fatalf("Mkdir(%q): %v", name, err)
			}
			continue
		}
		put(t, b, name, contentOf(e))
	}
}

func contentOf(entry string) string { return "content of " + entry + "\n" }

// treeSpec is a small tree with nested, empty and implicit directories.
var treeSpec = []string{"a.txt", "e/", "s/", "s/b.txt", "s/u/", "s/u/c.txt", "s/v/w.txt"}

// wantTree checks that base holds exactly the tree spec (as made by
// makeTree; "s/v/" is implied by "s/v/w.txt"), nothing more or less.
func wantTree(t *testing.T, b Backend, base string, spec ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, e := range spec {
		want[e] = true
		for d := path.Dir(strings.TrimSuffix(e, "/")); d != "."; d = path.Dir(d) {
			want[d+"/"] = true
		}
	}
	got, wantList := walk(t, b, base), slices.Sorted(maps.Keys(want))
	if !slices.Equal(got, wantList) {
		t.Errorf("tree under %q: got %q, want %q", base, got, wantList)
	}
	for _, e := range spec {
		if !strings.HasSuffix(e, "/") {
			wantContent(t, b, path.Join(base, e), contentOf(e))
		}
	}
}

// walk lists base recursively: entries relative to base, directories with
// a trailing slash, sorted.
func walk(t *testing.T, b Backend, base string) []string {
	t.Helper()
	var out []string
	var rec func(dir, rel string)
	depth := 0
	rec = func(dir, rel string) {
		if depth++; depth > 20 {
			t.Fatalf("walk(%q): deeper than 20 levels", base)
		}
		defer func() { depth-- }()
		for _, fi := range list(t, b, dir) {
			r := path.Join(rel, fi.Name)
			if fi.IsDir {
				out = append(out, r+"/")
				rec(path.Join(dir, fi.Name), r)
			} else {
				out = append(out, r)
			}
		}
	}
	rec(base, "")
	slices.Sort(out)
	return out
}

// failingBody yields n bytes and then fails with err.
type failingBody struct {
	n   int
	err error
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

// pattern returns n bytes that differ with seed and along the data, so
// that a mix of two bodies or a shifted range is told from the right one.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7+i/251) ^ seed
	}
	return p
}

// randomBytes returns n bytes that do not compress, the same every run.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func abbrev(p []byte) []byte {
	if len(p) > 64 {
		return append(p[:60:60], "..."...)
	}
	return p
}

// props returns name's properties sorted by name.
func props(t *testing.T, b Backend, name string) []Prop {
	t.Helper()
	ps, err := b.Props(t.Context(), name)
	if err != nil {
		t.Fatalf("Props(%q): %v", name, err)
	}
	return sortProps(ps)
}

func sortProps(ps []Prop) []Prop {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b Prop) int {
		return strings.Compare(a.Name.Space+" "+a.Name.Local, b.Name.Space+" "+b.Name.Local)
	})
	return ps
}

// wantProps checks that name has exactly the properties want, compared as
// a set, InnerXML byte for byte.
func wantProps(t *testing.T, b Backend, name string, want ...Prop) {
	t.Helper()
	got := props(t, b, name)
	want = sortProps(want)
	eq := slices.EqualFunc(got, want, func(a, b Prop) bool {
		return a.Name == b.Name && a.Lang == b.Lang && bytes.Equal(a.InnerXML, b.InnerXML)
	})
	if !eq {
		t.Errorf("Props(%q):\n got %s\nwant %s", name, fmtProps(got), fmtProps(want))
	}
}

func fmtProps(ps []Prop) string {
	var sb strings.Builder
	sb.WriteString("[")
	for i, p := range ps {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "{%s %s lang=%q %q}", p.Name.Space, p.Name.Local, p.Lang, p.InnerXML)
	}
	sb.WriteString("]")
	return sb.String()
}

func patch(t *testing.T, b Backend, name string, set []Prop, remove ...xml.Name) {
	t.Helper()
	if err := b.PatchProps(t.Context(), name, set, remove); err != nil {
		t.Fatalf("PatchProps(%q): %v", name, err)
	}
}

// Two properties in different namespaces, one with a language and markup
// inside, one plain.
var (
	propColor = Prop{
		Name:     xml.Name{Space: "urn:example:a", Local: "color"},
		Lang:     "en",
		InnerXML: []byte("red &amp; <b xmlns=\"urn:example:b\">bold</b>"),
	}
	propAuthor = Prop{
		Name:     xml.Name{Space: "http://example.com/ns/", Local: "author"},
		InnerXML: []byte("Ann"),
	}
)

// ---- subtests ----

func testPutOpen(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "RoundTrip", nb, func(t *testing.T, b Backend) {
		body := string(pattern(100_000, 1))
		before := time.Now()
		put(t, b, "f.bin", body)
		after := time.Now()
		obj, err := b.Open(t.Context(), "f.bin", Whole)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		info := obj.Info
		if got := readRange(t, obj, 0, -1); string(got) != body {
			t.Errorf("content: got %d bytes %q, want %d bytes %q", len(got), abbrev(got), len(body), abbrev([]byte(body)))
		}
		if info.Size != int64(len(body)) {
			t.Errorf("Size: got %d, want %d", info.Size, len(body))
		}
		if info.IsDir {
			t.Errorf("IsDir: got true, want false")
		}
		// A few seconds either way: S3 keeps whole seconds, clocks drift.
		if lo, hi := before.Add(-5*time.Second), after.Add(5*time.Second); info.ModTime.Before(lo) || info.ModTime.After(hi) {
			t.Errorf("ModTime: got %v, want between %v and %v", info.ModTime, lo, hi)
		}
		if len(info.ETag) < 3 || info.ETag[0] != '"' || info.ETag[len(info.ETag)-1] != '"' {
			t.Errorf("ETag: got %q, want a non-empty quoted strong tag", info.ETag)
		}
		fi := stat(t, b, "f.bin")
		if fi.Size != info.Size || !fi.ModTime.Equal(info.ModTime) || fi.IsDir != info.IsDir || fi.ETag != info.ETag {
			t.Errorf("Stat: got %+v, want Open's Info %+v", fi, info)
		}
		if fi2 := stat(t, b, "f.bin"); fi2.ETag != fi.ETag {
			t.Errorf("ETag of an unchanged file: got %q, then %q", fi.ETag, fi2.ETag)
		}
	})
	sub(t, "ETagChangesSameSize", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "hello world")
		e1 := stat(t, b, "f.txt").ETag
		put(t, b, "f.txt", "HELLO WORLD")
		e2 := stat(t, b, "f.txt").ETag
		if e1 == e2 {
			t.Errorf("ETag after replacing 11 bytes by 11 others: got %q both times, want a change", e1)
		}
		wantContent(t, b, "f.txt", "HELLO WORLD")
	})
	sub(t, "Empty", nb, func(t *testing.T, b Backend) {
		put(t, b, "empty", "")
		if fi := stat(t, b, "empty"); fi.Size != 0 || fi.IsDir || fi.ETag == "" {
			t.Errorf("Stat of an empty file: got %+v, want Size 0, a file, an ETag", fi)
		}
		wantContent(t, b, "empty", "")
	})
	sub(t, "UnknownSize", nb, func(t *testing.T, b Backend) {
		body := pattern(300_000, 2)
		// Hidden behind a plain Reader, so that no Len or WriterTo helps.
		r := struct{ io.Reader }{bytes.NewReader(body)}
		created, err := b.Put(t.Context(), "u.bin", r, -1, Cond{})
		if err != nil || !created {
			t.Fatalf("Put with size -1: got created %v, error %v, want true, nil", created, err)
		}
		wantContent(t, b, "u.bin", string(body))
		if fi := stat(t, b, "u.bin"); fi.Size != int64(len(body)) {
			t.Errorf("Size: got %d, want %d", fi.Size, len(body))
		}
	})
}

func testAtomicReplace(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "ConcurrentReaders", nb, func(t *testing.T, b Backend) {
		const size, replaces, readers = 1 << 20, 20, 4
		bodies := make([]string, 3)
		valid := map[[32]byte]int{}
		for i := range bodies {
			bodies[i] = string(pattern(size, byte(i*85)))
			valid[sha256.Sum256([]byte(bodies[i]))] = i
		}
		put(t, b, "big.bin", bodies[0])

		var done atomic.Bool
		var reads atomic.Int64
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				// Bounded: until the writer is done, at most 1000 reads.
				for i := 0; i < 1000 && (!done.Load() || i < 2); i++ {
					obj, err := b.Open(t.Context(), "big.bin", Whole)
					if err != nil {
						t.Errorf("Open during replaces: %v", err)
						return
					}
					data, err := readObject(obj, 0, -1)
					if err != nil {
						t.Errorf("reading during replaces: %v", err)
						return
					}
					reads.Add(1)
					if _, ok := valid[sha256.Sum256(data)]; !ok {
						t.Errorf("read %d bytes that are none of the bodies written (a mix or a partial file)", len(data))
						return
					}
				}
			})
		}
		for i := range replaces {
			if _, err := b.Put(t.Context(), "big.bin", strings.NewReader(bodies[(i+1)%len(bodies)]), size, Cond{}); err != nil {
				t.Errorf("replace %d: %v", i, err)
				break
			}
		}
		done.Store(true)
		wg.Wait()
		if reads.Load() == 0 {
			t.Errorf("no read completed during the replaces")
		}
		wantContent(t, b, "big.bin", bodies[replaces%len(bodies)])
		t.Logf("%d whole reads during %d replaces", reads.Load(), replaces)
	})
}

func testCreated(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "CreatedThenReplaced", nb, func(t *testing.T, b Backend) {
		if !put(t, b, "f.txt", "one") {
			t.Errorf("first Put: got created false, want true")
		}
		if put(t, b, "f.txt", "two") {
			t.Errorf("second Put: got created true, want false")
		}
		wantContent(t, b, "f.txt", "two")
	})
	sub(t, "IfAbsentExisting", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "old")
		etag := stat(t, b, "f.txt").ETag
		_, err := b.Put(t.Context(), "f.txt", strings.NewReader("new"), 3, Cond{IfAbsent: true})
		wantErr(t, err, ErrExist, "Put IfAbsent onto an existing file")
		wantContent(t, b, "f.txt", "old")
		if got := stat(t, b, "f.txt").ETag; got != etag {
			t.Errorf("ETag after a refused Put: got %q, want %q (unchanged)", got, etag)
		}
	})
	sub(t, "IfAbsentRace", nb, func(t *testing.T, b Backend) {
		const writers = 8
		start := make(chan struct{})
		errs := make([]error, writers)
		created := make([]bool, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				body := fmt.Sprintf("body of writer %d", i)
				created[i], errs[i] = b.Put(t.Context(), "race.txt", strings.NewReader(body), int64(len(body)), Cond{IfAbsent: true})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("writers %d and %d both created the name", winner, i)
				}
				winner = i
				if !created[i] {
					t.Errorf("winner %d: got created false, want true", i)
				}
			case !errors.Is(err, ErrExist):
				t.Errorf("writer %d: got error %v, want nil or ErrExist", i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("none of %d IfAbsent writers succeeded: %v", writers, errs)
		}
		wantContent(t, b, "race.txt", fmt.Sprintf("body of writer %d", winner))
	})
	sub(t, "ConcurrentParents", nb, func(t *testing.T, b Backend) {
		// Writers that all need the same missing parents all succeed.
		const writers = 8
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				name := fmt.Sprintf("p/q/f%d", i)
				if created, err := b.Put(t.Context(), name, strings.NewReader(name), int64(len(name)), Cond{}); err != nil || !created {
					t.Errorf("Put(%q): got created %v, error %v, want true, nil", name, created, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := names(list(t, b, "p/q")); len(got) != writers {
			t.Errorf("List(p/q): got %q, want %d files", got, writers)
		}
	})
}

func testCondHolds(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "NewName", nb, func(t *testing.T, b Backend) {
		var calls int
		var gotExists bool
		cond := Cond{Holds: func(cur Info, exists bool) bool {
			calls++
			gotExists = exists
			return true
		}}
		created, err := b.Put(t.Context(), "new.txt", strings.NewReader("x"), 1, cond)
		if err != nil || !created {
			t.Fatalf("Put: got created %v, error %v, want true, nil", created, err)
		}
		if calls == 0 {
			t.Fatalf("Holds was never called")
		}
		if gotExists {
			t.Errorf("Holds for a new name: got exists true, want false")
		}
	})
	sub(t, "Existing", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "old content")
		want := stat(t, b, "f.txt")
		var calls int
		var gotCur Info
		var gotExists bool
		cond := Cond{Holds: func(cur Info, exists bool) bool {
			calls++
			gotCur, gotExists = cur, exists
			return true
		}}
		if created, err := b.Put(t.Context(), "f.txt", strings.NewReader("new"), 3, cond); err != nil || created {
			t.Fatalf("Put: got created %v, error %v, want false, nil", created, err)
		}
		if calls == 0 {
			t.Fatalf("Holds was never called")
		}
		if !gotExists || gotCur.ETag != want.ETag || gotCur.Size != want.Size || gotCur.IsDir {
			t.Errorf("Holds got exists %v, %+v; want true and the Info before the write, %+v", gotExists, gotCur, want)
		}
		wantContent(t, b, "f.txt", "new")
	})
	sub(t, "FalseOnExisting", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "old")
		etag := stat(t, b, "f.txt").ETag
		called := false
		cond := Cond{Holds: func(Info, bool) bool { called = true; return false }}
		_, err := b.Put(t.Context(), "f.txt", strings.NewReader("new"), 3, cond)
		wantErr(t, err, ErrPrecondition, "Put with Holds false")
		if !called {
			t.Errorf("Holds was never called")
		}
		wantContent(t, b, "f.txt", "old")
		if got := stat(t, b, "f.txt").ETag; got != etag {
			t.Errorf("ETag after a refused Put: got %q, want %q", got, etag)
		}
	})
	sub(t, "FalseOnNewName", nb, func(t *testing.T, b Backend) {
		cond := Cond{Holds: func(Info, bool) bool { return false }}
		_, err := b.Put(t.Context(), "p1/p2/f.txt", strings.NewReader("new"), 3, cond)
		wantErr(t, err, ErrPrecondition, "Put with Holds false")
		// A refused write leaves no parent behind either.
		wantGone(t, b, "p1/p2/f.txt", "p1/p2", "p1")
		if got := names(list(t, b, ".")); len(got) != 0 {
			t.Errorf("root after a refused Put: got %q, want nothing", got)
		}
	})
}

func testFailingBody(t *testing.T, nb func(t *testing.T) Backend) {
	cases := []struct {
		name  string
		after int   // bytes before the error
		size  int64 // size told to Put
	}{
		{"At0", 0, 1000},
		{"At0UnknownSize", 0, -1},
		{"At70000", 70_000, 200_000},
		{"At70000UnknownSize", 70_000, -1},
	}
	for _, tc := range cases {
		errCut := fmt.Errorf("client cut off after %d bytes", tc.after)
		body := func() io.Reader { return &failingBody{n: tc.after, err: errCut} }
		sub(t, tc.name+"/Replace", nb, func(t *testing.T, b Backend) {
			put(t, b, "f.txt", "old")
			_, err := b.Put(t.Context(), "f.txt", body(), tc.size, Cond{})
			wantErr(t, err, errCut, "Put of a failing body")
			wantContent(t, b, "f.txt", "old")
			if got := names(list(t, b, ".")); !slices.Equal(got, []string{"f.txt"}) {
				t.Errorf("root after a failed Put: got %q, want [f.txt]", got)
			}
		})
		sub(t, tc.name+"/Create", nb, func(t *testing.T, b Backend) {
			_, err := b.Put(t.Context(), "new.txt", body(), tc.size, Cond{})
			wantErr(t, err, errCut, "Put of a failing body")
			wantGone(t, b, "new.txt")
		})
		sub(t, tc.name+"/Parents", nb, func(t *testing.T, b Backend) {
			_, err := b.Put(t.Context(), "new1/new2/f", body(), tc.size, Cond{})
			wantErr(t, err, errCut, "Put of a failing body")
			wantGone(t, b, "new1/new2/f", "new1/new2", "new1")
			if got := names(list(t, b, ".")); len(got) != 0 {
				t.Errorf("root after a failed Put: got %q, want nothing", got)
			}
		})
	}
}

func testConflicts(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "PutUnderFile", nb, func(t *testing.T, b Backend) {
		put(t, b, "file.txt", "x")
		for _, name := range []string{"file.txt/x", "file.txt/x/y"} {
			_, err := b.Put(t.Context(), name, strings.NewReader("y"), 1, Cond{})
			wantErr(t, err, ErrNotDir, fmt.Sprintf("Put(%q)", name))
		}
		wantContent(t, b, "file.txt", "x")
	})
	sub(t, "PutOntoDir", nb, func(t *testing.T, b Backend) {
		if err := b.Mkdir(t.Context(), "made"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		put(t, b, "implied/f.txt", "x")
		for _, name := range []string{"made", "implied"} {
			_, err := b.Put(t.Context(), name, strings.NewReader("y"), 1, Cond{})
			wantErr(t, err, ErrIsDir, fmt.Sprintf("Put onto directory %q", name))
			wantDir(t, b, name)
		}
		wantContent(t, b, "implied/f.txt", "x")
	})
	sub(t, "DeleteNotEmpty", nb, func(t *testing.T, b Backend) {
		put(t, b, "d/f.txt", "x")
		wantErr(t, b.Delete(t.Context(), "d", false, Cond{}), ErrNotEmpty, "Delete of a non-empty directory")
		wantContent(t, b, "d/f.txt", "x")
	})
	sub(t, "MkdirExisting", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		if err := b.Mkdir(t.Context(), "d"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		put(t, b, "implied/f.txt", "x")
		wantErr(t, b.Mkdir(t.Context(), "f.txt"), ErrExist, "Mkdir of an existing file")
		wantErr(t, b.Mkdir(t.Context(), "d"), ErrExist, "Mkdir of an existing directory")
		wantErr(t, b.Mkdir(t.Context(), "implied"), ErrExist, "Mkdir of a directory made by Put")
		wantContent(t, b, "f.txt", "x")
	})
	sub(t, "MkdirMissingParent", nb, func(t *testing.T, b Backend) {
		wantErr(t, b.Mkdir(t.Context(), "no/d"), ErrNotExist, "Mkdir with a missing parent")
		wantGone(t, b, "no")
	})
	sub(t, "MkdirUnderFile", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		wantErr(t, b.Mkdir(t.Context(), "f.txt/d"), ErrNotDir, "Mkdir under a file")
		wantContent(t, b, "f.txt", "x")
	})
}

func testDelete(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "File", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		if err := b.Delete(t.Context(), "f.txt", false, Cond{}); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantGone(t, b, "f.txt")
	})
	sub(t, "EmptyDir", nb, func(t *testing.T, b Backend) {
		if err := b.Mkdir(t.Context(), "d"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		if err := b.Delete(t.Context(), "d", false, Cond{}); err != nil {
			t.Fatalf("Delete of an empty directory: %v", err)
		}
		wantGone(t, b, "d")
	})
	sub(t, "Recursive", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "t", treeSpec...)
		put(t, b, "keep.txt", "x")
		if err := b.Delete(t.Context(), "t", true, Cond{}); err != nil {
			t.Fatalf("Delete recursive: %v", err)
		}
		gone := []string{"t"}
		for _, e := range treeSpec {
			gone = append(gone, path.Join("t", e))
		}
		wantGone(t, b, gone...)
		wantContent(t, b, "keep.txt", "x")
		if got := names(list(t, b, ".")); !slices.Equal(got, []string{"keep.txt"}) {
			t.Errorf("root after the Delete: got %q, want [keep.txt]", got)
		}
	})
	sub(t, "Missing", nb, func(t *testing.T, b Backend) {
		wantErr(t, b.Delete(t.Context(), "nope", false, Cond{}), ErrNotExist, "Delete of a missing name")
		wantErr(t, b.Delete(t.Context(), "nope", true, Cond{}), ErrNotExist, "recursive Delete of a missing name")
	})
	sub(t, "HoldsFalse", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		cond := Cond{Holds: func(Info, bool) bool { return false }}
		wantErr(t, b.Delete(t.Context(), "f.txt", false, cond), ErrPrecondition, "Delete with Holds false")
		wantContent(t, b, "f.txt", "x")
	})
	sub(t, "HoldsTrue", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		want := stat(t, b, "f.txt")
		var gotCur Info
		var gotExists, called bool
		cond := Cond{Holds: func(cur Info, exists bool) bool {
			called, gotCur, gotExists = true, cur, exists
			return true
		}}
		if err := b.Delete(t.Context(), "f.txt", false, cond); err != nil {
			t.Fatalf("Delete with Holds true: %v", err)
		}
		if !called || !gotExists || gotCur.ETag != want.ETag {
			t.Errorf("Holds: got called %v, exists %v, ETag %q; want true, true, %q", called, gotExists, gotCur.ETag, want.ETag)
		}
		wantGone(t, b, "f.txt")
	})
}

func testDirectories(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "PutMakesParents", nb, func(t *testing.T, b Backend) {
		if !put(t, b, "a/b/c.txt", "x") {
			t.Errorf("Put: got created false, want true")
		}
		wantDir(t, b, "a")
		wantDir(t, b, "a/b")
		wantContent(t, b, "a/b/c.txt", "x")
	})
	sub(t, "Root", nb, func(t *testing.T, b Backend) {
		wantDir(t, b, ".") // even empty
		_, err := b.Open(t.Context(), ".", Whole)
		wantErr(t, err, ErrIsDir, "Open of the root")
	})
	sub(t, "OpenDir", nb, func(t *testing.T, b Backend) {
		if err := b.Mkdir(t.Context(), "made"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		put(t, b, "implied/f.txt", "x")
		for _, name := range []string{"made", "implied"} {
			obj, err := b.Open(t.Context(), name, Whole)
			if err == nil && obj.Body != nil {
				obj.Body.Close()
			}
			wantErr(t, err, ErrIsDir, fmt.Sprintf("Open of directory %q", name))
		}
	})
	sub(t, "MkdirThenStat", nb, func(t *testing.T, b Backend) {
		if err := b.Mkdir(t.Context(), "d"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		if err := b.Mkdir(t.Context(), "d/e"); err != nil {
			t.Fatalf("Mkdir of a subdirectory: %v", err)
		}
		wantDir(t, b, "d")
		wantDir(t, b, "d/e")
	})
}

func testList(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "ByteOrder", nb, func(t *testing.T, b Backend) {
		// "a" is a directory: it sorts as "a", before "a b", not as "a/"
		// (which would come after "a.txt").
		for _, name := range []string{"é", "a0", "Z", "a.txt", "a b", "B", "a-", "a/inner"} {
			put(t, b, name, name)
		}
		if err := b.Mkdir(t.Context(), "e"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		got := list(t, b, ".")
		want := []string{"B", "Z", "a/", "a b", "a-", "a.txt", "a0", "e/", "é"}
		if !slices.Equal(names(got), want) {
			t.Fatalf("List order: got %q, want %q", names(got), want)
		}
		for _, fi := range got {
			if fi.IsDir {
				if fi.Size != 0 || fi.ETag != "" {
					t.Errorf("directory %q: got Size %d, ETag %q, want 0 and empty", fi.Name, fi.Size, fi.ETag)
				}
				continue
			}
			if fi.Size != int64(len(fi.Name)) {
				t.Errorf("file %q: got Size %d, want %d", fi.Name, fi.Size, len(fi.Name))
			}
			if fi.ModTime.IsZero() {
				t.Errorf("file %q: ModTime is zero", fi.Name)
			}
			// An ETag in a listing (PROPFIND's getetag) must be GET's.
			if st := stat(t, b, fi.Name); fi.ETag != "" && fi.ETag != st.ETag {
				t.Errorf("file %q: listed ETag %q, Stat's %q", fi.Name, fi.ETag, st.ETag)
			}
		}
		if got := names(list(t, b, "a")); !slices.Equal(got, []string{"inner"}) {
			t.Errorf("List(a): got %q, want [inner]", got)
		}
	})
	sub(t, "Empty", nb, func(t *testing.T, b Backend) {
		if got := names(list(t, b, ".")); len(got) != 0 {
			t.Errorf("List of an empty root: got %q, want nothing", got)
		}
		if err := b.Mkdir(t.Context(), "d"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		if got := names(list(t, b, "d")); len(got) != 0 {
			t.Errorf("List of an empty directory: got %q, want nothing", got)
		}
		// A made directory that gains a file lists just the file.
		put(t, b, "d/x", "x")
		if got := names(list(t, b, "d")); !slices.Equal(got, []string{"x"}) {
			t.Errorf("List(d): got %q, want [x]", got)
		}
	})
	sub(t, "NotADir", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		fn := func(fi Info) error {
			t.Errorf("fn called with %+v", fi)
			return nil
		}
		wantErr(t, b.List(t.Context(), "nope", fn), ErrNotExist, "List of a missing directory")
		wantErr(t, b.List(t.Context(), "f.txt", fn), ErrNotDir, "List of a file")
	})
	sub(t, "Many", nb, func(t *testing.T, b Backend) {
		const n, workers = 2500, 16
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("n%04d", i)
		}
		start := time.Now()
		work := make(chan string)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for name := range work {
					if _, err := b.Put(t.Context(), "big/"+name, strings.NewReader(name), int64(len(name)), Cond{}); err != nil {
						t.Errorf("Put(%q): %v", name, err)
					}
				}
			})
		}
		for _, name := range want {
			work <- name
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		made := time.Since(start)
		got := list(t, b, "big")
		if !slices.Equal(names(got), want) {
			t.Errorf("List of %d entries: got %d entries (first %q, last %q), want all, in order",
				n, len(got), names(got[:min(3, len(got))]), names(got[max(0, len(got)-3):]))
		}
		for _, fi := range got {
			if fi.IsDir || fi.Size != int64(len(fi.Name)) {
				t.Errorf("entry %q: got IsDir %v, Size %d, want a file of %d bytes", fi.Name, fi.IsDir, fi.Size, len(fi.Name))
				break
			}
		}
		listed := time.Since(start) - made
		// More than one page to delete, too.
		if err := b.Delete(t.Context(), "big", true, Cond{}); err != nil {
			t.Fatalf("recursive Delete of %d entries: %v", n, err)
		}
		wantGone(t, b, "big", "big/"+want[0], "big/"+want[n-1])
		if got := names(list(t, b, ".")); len(got) != 0 {
			t.Errorf("root after the Delete: got %d entries (%q...), want nothing", len(got), got[:min(3, len(got))])
		}
		t.Logf("made %d files in %v, listed them in %v, deleted them in %v", n, made, listed, time.Since(start)-made-listed)
	})
	sub(t, "FnErrorStops", nb, func(t *testing.T, b Backend) {
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			put(t, b, name, name)
		}
		errStop := errors.New("stop here")
		var seen []string
		err := b.List(t.Context(), ".", func(fi Info) error {
			seen = append(seen, fi.Name)
			if len(seen) == 2 {
				return errStop
			}
			return nil
		})
		wantErr(t, err, errStop, "List whose fn fails")
		if !slices.Equal(seen, []string{"a", "b"}) {
			t.Errorf("fn saw %q, want [a b] and no call after its error", seen)
		}
	})
}

// wantMoved checks that the file src was moved or copied to dst: dst has
// content, and src has it still when kept is set, else is gone.
func wantMoved(t *testing.T, b Backend, src, dst, content string, kept bool) {
	t.Helper()
	wantContent(t, b, dst, content)
	if kept {
		wantContent(t, b, src, content)
	} else {
		wantGone(t, b, src)
	}
}

// testTransfer holds the rules that Move and Copy share; xfer is the one
// under test (recursive for Copy), kept tells whether the source stays.
func testTransfer(t *testing.T, nb func(t *testing.T) Backend, kept bool,
	xfer func(ctx context.Context, b Backend, src, dst string, overwrite bool) (bool, error)) {
	sub(t, "File", nb, func(t *testing.T, b Backend) {
		put(t, b, "src.txt", "payload")
		patch(t, b, "src.txt", []Prop{propColor, propAuthor})
		created, err := xfer(t.Context(), b, "src.txt", "dst.txt", false)
		if err != nil || !created {
			t.Fatalf("got created %v, error %v, want true, nil", created, err)
		}
		wantMoved(t, b, "src.txt", "dst.txt", "payload", kept)
		wantProps(t, b, "dst.txt", propColor, propAuthor)
		if kept {
			wantProps(t, b, "src.txt", propColor, propAuthor)
			// The copy's properties are its own.
			patch(t, b, "dst.txt", nil, propColor.Name)
			wantProps(t, b, "src.txt", propColor, propAuthor)
		} else {
			// No property stays behind for a new file of the old name.
			put(t, b, "src.txt", "new")
			wantProps(t, b, "src.txt")
		}
	})
	sub(t, "NoOverwrite", nb, func(t *testing.T, b Backend) {
		put(t, b, "src.txt", "new")
		put(t, b, "dst.txt", "old")
		_, err := xfer(t.Context(), b, "src.txt", "dst.txt", false)
		wantErr(t, err, ErrExist, "onto an existing file without overwrite")
		wantContent(t, b, "src.txt", "new")
		wantContent(t, b, "dst.txt", "old")
		put(t, b, "d/f.txt", "in d")
		_, err = xfer(t.Context(), b, "src.txt", "d", false)
		wantErr(t, err, ErrExist, "onto an existing directory without overwrite")
		wantContent(t, b, "d/f.txt", "in d")
		wantContent(t, b, "src.txt", "new")
	})
	sub(t, "Overwrite", nb, func(t *testing.T, b Backend) {
		put(t, b, "src.txt", "new")
		put(t, b, "dst.txt", "old")
		patch(t, b, "dst.txt", []Prop{propAuthor})
		created, err := xfer(t.Context(), b, "src.txt", "dst.txt", true)
		if err != nil || created {
			t.Fatalf("got created %v, error %v, want false, nil", created, err)
		}
		wantMoved(t, b, "src.txt", "dst.txt", "new", kept)
		// The replaced resource's properties went with it.
		wantProps(t, b, "dst.txt")
	})
	sub(t, "OverwriteDirWhole", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "src", treeSpec...)
		put(t, b, "dst/old.txt", "old")
		put(t, b, "dst/s/old.txt", "old")
		created, err := xfer(t.Context(), b, "src", "dst", true)
		if err != nil || created {
			t.Fatalf("got created %v, error %v, want false, nil", created, err)
		}
		wantTree(t, b, "dst", treeSpec...)
		if kept {
			wantTree(t, b, "src", treeSpec...)
		} else {
			wantGone(t, b, "src")
		}
	})
	sub(t, "OverwriteDirWithFile", nb, func(t *testing.T, b Backend) {
		put(t, b, "src.txt", "file")
		makeTree(t, b, "dst", treeSpec...)
		created, err := xfer(t.Context(), b, "src.txt", "dst", true)
		if err != nil || created {
			t.Fatalf("got created %v, error %v, want false, nil", created, err)
		}
		wantMoved(t, b, "src.txt", "dst", "file", kept)
		wantNoEntry(t, b, "dst/a.txt", "dst/s/b.txt", "dst/e")
	})
	sub(t, "OverwriteFileWithDir", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "src", treeSpec...)
		put(t, b, "dst", "file")
		created, err := xfer(t.Context(), b, "src", "dst", true)
		if err != nil || created {
			t.Fatalf("got created %v, error %v, want false, nil", created, err)
		}
		wantDir(t, b, "dst")
		wantTree(t, b, "dst", treeSpec...)
	})
	sub(t, "OddNames", nb, func(t *testing.T, b Backend) {
		// Characters that URL and copy-source encodings get wrong.
		const src, dst = "sp ace/a+b%20c?d#e&f=g é;.txt", "dst dir+%2F/x+y %3F.txt"
		// Made, so that on S3 "sp ace" outlives its only file's move.
		for _, d := range []string{path.Dir(src), path.Dir(dst)} {
			if err := b.Mkdir(t.Context(), d); err != nil {
				t.Fatalf("Mkdir(%q): %v", d, err)
			}
		}
		put(t, b, src, "odd")
		patch(t, b, src, []Prop{propAuthor})
		created, err := xfer(t.Context(), b, src, dst, false)
		if err != nil || !created {
			t.Fatalf("got created %v, error %v, want true, nil", created, err)
		}
		wantMoved(t, b, src, dst, "odd", kept)
		wantProps(t, b, dst, propAuthor)
		created, err = xfer(t.Context(), b, "sp ace", "other+dir %25", false)
		if err != nil || !created {
			t.Fatalf("directory: got created %v, error %v, want true, nil", created, err)
		}
		if kept {
			wantContent(t, b, "other+dir %25/"+path.Base(src), "odd")
		} else {
			wantGone(t, b, "sp ace")
			if got := names(list(t, b, "other+dir %25")); len(got) != 0 {
				t.Errorf("List of the moved, emptied directory: got %q, want nothing", got)
			}
		}
	})
	sub(t, "Dir", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "d", treeSpec...)
		patch(t, b, "d", []Prop{propColor})
		patch(t, b, "d/s/b.txt", []Prop{propAuthor})
		created, err := xfer(t.Context(), b, "d", "m", false)
		if err != nil || !created {
			t.Fatalf("got created %v, error %v, want true, nil", created, err)
		}
		wantDir(t, b, "m")
		wantTree(t, b, "m", treeSpec...)
		wantProps(t, b, "m", propColor)
		wantProps(t, b, "m/s/b.txt", propAuthor)
		if kept {
			wantTree(t, b, "d", treeSpec...)
			wantProps(t, b, "d", propColor)
			wantProps(t, b, "d/s/b.txt", propAuthor)
		} else {
			wantGone(t, b, "d", "d/a.txt", "d/s", "d/s/b.txt", "d/e")
		}
	})
	sub(t, "MissingParent", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		_, err := xfer(t.Context(), b, "f.txt", "nope/f.txt", false)
		wantErr(t, err, ErrNotExist, "into a missing parent")
		wantContent(t, b, "f.txt", "x")
		wantGone(t, b, "nope")
	})
	sub(t, "IntoItself", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "d", treeSpec...)
		for _, dst := range []string{"d/sub", "d/s/sub"} {
			_, err := xfer(t.Context(), b, "d", dst, false)
			wantErr(t, err, ErrConflict, fmt.Sprintf("d to %q", dst))
		}
		wantTree(t, b, "d", treeSpec...)
	})
	sub(t, "MissingSource", nb, func(t *testing.T, b Backend) {
		_, err := xfer(t.Context(), b, "nope", "dst", false)
		wantErr(t, err, ErrNotExist, "of a missing source")
		wantGone(t, b, "dst")
	})
}

func testMove(t *testing.T, nb func(t *testing.T) Backend) {
	testTransfer(t, nb, false, func(ctx context.Context, b Backend, src, dst string, overwrite bool) (bool, error) {
		return b.Move(ctx, src, dst, overwrite)
	})
}

func testCopy(t *testing.T, nb func(t *testing.T) Backend) {
	testTransfer(t, nb, true, func(ctx context.Context, b Backend, src, dst string, overwrite bool) (bool, error) {
		return b.Copy(ctx, src, dst, overwrite, true)
	})
	sub(t, "DirNotRecursive", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "d", treeSpec...)
		patch(t, b, "d", []Prop{propColor})
		created, err := b.Copy(t.Context(), "d", "m", false, false)
		if err != nil || !created {
			t.Fatalf("got created %v, error %v, want true, nil", created, err)
		}
		wantDir(t, b, "m")
		if got := names(list(t, b, "m")); len(got) != 0 {
			t.Errorf("List of a non-recursive copy: got %q, want nothing", got)
		}
		wantProps(t, b, "m", propColor)
		wantTree(t, b, "d", treeSpec...)
	})
}

// Dead properties and a Put that replaces a file's content: RFC 4918
// gives them to the resource, and Apache's mod_dav keeps them, but a
// replace is a new file on both backends (a new inode renamed over the
// old one, which does not carry the old one's extended attributes; a new
// object), and keeping them would cost every upload a read of the old
// properties. So whether they survive a replace is left out of the
// contract and of this suite. What is in both: Delete removes them, so a
// new resource of the same name starts with none, and Move and Copy
// carry them (testTransfer).
func testProps(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "SetGetRemove", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		patch(t, b, "f.txt", []Prop{propColor, propAuthor})
		wantProps(t, b, "f.txt", propColor, propAuthor)
		patch(t, b, "f.txt", nil, propColor.Name)
		wantProps(t, b, "f.txt", propAuthor)
		wantContent(t, b, "f.txt", "x")
	})
	sub(t, "SetReplaces", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		patch(t, b, "f.txt", []Prop{propColor, propAuthor})
		blue := Prop{Name: propColor.Name, InnerXML: []byte("blue")}
		patch(t, b, "f.txt", []Prop{blue})
		wantProps(t, b, "f.txt", blue, propAuthor)
		// Removing a property that is not there is no error (RFC 4918
		// section 14.23).
		patch(t, b, "f.txt", nil, xml.Name{Space: "urn:none", Local: "none"})
		wantProps(t, b, "f.txt", blue, propAuthor)
	})
	sub(t, "Values", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		ps := []Prop{
			{Name: xml.Name{Space: "urn:v", Local: "unicode"}, Lang: "zh-Hant-TW", InnerXML: []byte("中文 ü \U0001F600 &lt;")},
			{Name: xml.Name{Space: "urn:v", Local: "empty"}},
			{Name: xml.Name{Space: "urn:v", Local: "spaces"}, InnerXML: []byte("  two\n lines \t")},
			{Name: xml.Name{Local: "nonamespace"}, InnerXML: []byte("1")},
		}
		patch(t, b, "f.txt", ps)
		wantProps(t, b, "f.txt", ps...)
	})
	sub(t, "AllOrNone", nb, func(t *testing.T, b Backend) {
		// A patch too large for some backend (S3 keeps properties in 2 KiB
		// of metadata) is stored whole or refused whole.
		put(t, b, "f.txt", "x")
		patch(t, b, "f.txt", []Prop{propColor})
		huge := Prop{Name: xml.Name{Space: "urn:big", Local: "huge"}, InnerXML: fmt.Appendf(nil, "%x", randomBytes(32<<10))}
		err := b.PatchProps(t.Context(), "f.txt", []Prop{propAuthor, huge}, []xml.Name{propColor.Name})
		if err != nil {
			t.Logf("a patch of %d bytes was refused: %v", len(huge.InnerXML), err)
			wantProps(t, b, "f.txt", propColor)
		} else {
			wantProps(t, b, "f.txt", propAuthor, huge)
		}
		wantContent(t, b, "f.txt", "x")
	})
	sub(t, "SameLocalNameOtherSpace", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		p1 := Prop{Name: xml.Name{Space: "urn:one", Local: "p"}, InnerXML: []byte("1")}
		p2 := Prop{Name: xml.Name{Space: "urn:two", Local: "p"}, InnerXML: []byte("2")}
		patch(t, b, "f.txt", []Prop{p1, p2})
		wantProps(t, b, "f.txt", p1, p2)
	})
	sub(t, "Directory", nb, func(t *testing.T, b Backend) {
		if err := b.Mkdir(t.Context(), "made"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		put(t, b, "implied/f.txt", "x")
		for _, d := range []string{"made", "implied"} {
			wantProps(t, b, d)
			patch(t, b, d, []Prop{propColor, propAuthor})
			wantProps(t, b, d, propColor, propAuthor)
			wantDir(t, b, d)
		}
		// Properties are not listed as entries.
		if got := names(list(t, b, "made")); len(got) != 0 {
			t.Errorf("List(made): got %q, want nothing", got)
		}
		if got := names(list(t, b, "implied")); !slices.Equal(got, []string{"f.txt"}) {
			t.Errorf("List(implied): got %q, want [f.txt]", got)
		}
		if got := names(list(t, b, ".")); !slices.Equal(got, []string{"implied/", "made/"}) {
			t.Errorf("List(.): got %q, want [implied/ made/]", got)
		}
	})
	sub(t, "None", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		wantProps(t, b, "f.txt")
		wantProps(t, b, ".")
	})
	sub(t, "Missing", nb, func(t *testing.T, b Backend) {
		_, err := b.Props(t.Context(), "nope")
		wantErr(t, err, ErrNotExist, "Props of a missing name")
		err = b.PatchProps(t.Context(), "nope", []Prop{propColor}, nil)
		wantErr(t, err, ErrNotExist, "PatchProps of a missing name")
		wantGone(t, b, "nope")
	})
	sub(t, "DeleteRemoves", nb, func(t *testing.T, b Backend) {
		put(t, b, "f.txt", "x")
		patch(t, b, "f.txt", []Prop{propColor})
		makeTree(t, b, "d", treeSpec...)
		patch(t, b, "d", []Prop{propAuthor})
		patch(t, b, "d/s/b.txt", []Prop{propColor})
		for _, name := range []string{"f.txt", "d"} {
			if err := b.Delete(t.Context(), name, true, Cond{}); err != nil {
				t.Fatalf("Delete(%q): %v", name, err)
			}
		}
		put(t, b, "f.txt", "y")
		wantProps(t, b, "f.txt")
		makeTree(t, b, "d", treeSpec...)
		wantProps(t, b, "d")
		wantProps(t, b, "d/s/b.txt")
	})
}

func testRanges(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "Read", nb, func(t *testing.T, b Backend) {
		const size = 100
		body := pattern(size, 3)
		put(t, b, "r.bin", string(body))
		cases := []struct {
			rng  Range
			want []byte
		}{
			{Range{Start: 10, Length: 5}, body[10:15]},
			{Range{Start: 10, Length: -1}, body[10:]},
			{Range{Start: -5}, body[95:]},
			{Range{Start: 0, Length: 1}, body[:1]},
			{Range{Start: 99, Length: 1}, body[99:]},
			{Range{Start: -100}, body},
			{Whole, body},
			{Range{}, body},
		}
		for _, tc := range cases {
			obj, err := b.Open(t.Context(), "r.bin", tc.rng)
			if err != nil {
				t.Errorf("Open(%+v): %v", tc.rng, err)
				continue
			}
			if obj.Size != size {
				t.Errorf("Open(%+v): got Size %d, want the whole file's %d", tc.rng, obj.Size, size)
			}
			length := tc.rng.Length
			if tc.rng == (Range{}) {
				length = -1
			}
			if got := readRange(t, obj, tc.rng.Start, length); !bytes.Equal(got, tc.want) {
				t.Errorf("range %+v (Offset %d): got %x, want %x", tc.rng, obj.Offset, got, tc.want)
			}
		}
	})
}

func testErrors(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "CheckName", nb, func(t *testing.T, b Backend) {
		long := strings.Repeat("n", 256)
		for _, name := range []string{long, "d/" + long, long + "/f"} {
			wantErr(t, b.CheckName(name), ErrBadName, fmt.Sprintf("CheckName of a %d-byte segment", len(long)))
		}
		// What CheckName takes, the backend must hold.
		ok := strings.Repeat("k", 255)
		if err := b.CheckName(ok); err != nil {
			t.Fatalf("CheckName of a 255-byte segment: %v", err)
		}
		put(t, b, ok, "x")
		wantContent(t, b, ok, "x")
		for _, name := range []string{"f.txt", "a/b c/é.txt", "."} {
			if err := b.CheckName(name); err != nil {
				t.Errorf("CheckName(%q): got %v, want nil", name, err)
			}
		}
	})
	sub(t, "Missing", nb, func(t *testing.T, b Backend) {
		for _, name := range []string{"nope", "no/such/file"} {
			_, err := b.Stat(t.Context(), name)
			wantErr(t, err, ErrNotExist, fmt.Sprintf("Stat(%q)", name))
			obj, err := b.Open(t.Context(), name, Whole)
			if err == nil && obj.Body != nil {
				obj.Body.Close()
			}
			wantErr(t, err, ErrNotExist, fmt.Sprintf("Open(%q)", name))
			wantErr(t, b.Delete(t.Context(), name, false, Cond{}), ErrNotExist, fmt.Sprintf("Delete(%q)", name))
		}
	})
	sub(t, "UnderFile", nb, func(t *testing.T, b Backend) {
		put(t, b, "file.txt", "x")
		oneOf := func(err error, what string) {
			t.Helper()
			if !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrNotDir) {
				t.Errorf("%s: got error %v, want ErrNotExist or ErrNotDir", what, err)
			}
		}
		wantNoEntry(t, b, "file.txt/x", "file.txt/x/y")
		obj, err := b.Open(t.Context(), "file.txt/x", Whole)
		if err == nil && obj.Body != nil {
			obj.Body.Close()
		}
		oneOf(err, "Open under a file")
		oneOf(b.Delete(t.Context(), "file.txt/x", false, Cond{}), "Delete under a file")
		_, err = b.Props(t.Context(), "file.txt/x")
		oneOf(err, "Props under a file")
		wantContent(t, b, "file.txt", "x")
	})
}

func testCleanup(t *testing.T, nb func(t *testing.T) Backend) {
	sub(t, "SparesFiles", nb, func(t *testing.T, b Backend) {
		makeTree(t, b, "d", treeSpec...)
		n := b.Cleanup(func(format string, args ...any) {
			t.Errorf("Cleanup reported: "+format, args...)
		})
		if n != 0 {
			t.Errorf("Cleanup of a clean store: got %d removed, want 0", n)
		}
		wantTree(t, b, "d", treeSpec...)
	})
}
