package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/httpbox/httpbox/internal/s3test"
)

// testS3Prefix keeps the backends of these tests under a key prefix, so
// that the mapping of names to keys is exercised too.
const testS3Prefix = "httpbox"

// newS3ForTest starts versitygw (one per test: it starts in tens of
// milliseconds) and returns a backend on a fresh bucket with the smallest
// part size, closed when the test ends.
func newS3ForTest(t *testing.T) *S3 {
	t.Helper()
	srv := s3test.Start(t)
	return newS3On(t, srv, "s3://"+srv.NewBucket(t)+"/"+testS3Prefix, S3Options{PartSize: MinS3PartSize})
}

// newS3On opens url on srv, without reading the environment.
func newS3On(t testing.TB, srv *s3test.Server, url string, opts S3Options) *S3 {
	t.Helper()
	cfg := srv.Config()
	opts.Config = &cfg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := NewS3(ctx, url, opts)
	if err != nil {
		t.Fatalf("NewS3(%s): %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// wantNoUploads fails when a multipart upload is left in bucket.
func wantNoUploads(t *testing.T, srv *s3test.Server, b *S3) {
	t.Helper()
	out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &b.bucket})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Errorf("upload left behind: %s (%s)", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

// genReader yields n bytes of a repeating pattern without allocating,
// then fails with err if set; after is called once, when it has yielded
// failAt bytes (if failAt > 0).
type genReader struct {
	n, off  int64
	failAt  int64
	err     error
	after   func()
	calledA bool
}

func (r *genReader) Read(p []byte) (int, error) {
	if r.failAt > 0 && r.off >= r.failAt {
		if r.after != nil && !r.calledA {
			r.calledA = true
			r.after()
		}
		if r.err != nil {
			return 0, r.err
		}
	}
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rest := r.n - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	if r.failAt > 0 && r.off < r.failAt && int64(len(p)) > r.failAt-r.off {
		p = p[:r.failAt-r.off]
	}
	for i := range p {
		p[i] = byte((r.off + int64(i)) % 251)
	}
	r.off += int64(len(p))
	return len(p), nil
}

func TestS3MultipartRoundTrip(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t)+"/p", S3Options{PartSize: MinS3PartSize})
	ctx := context.Background()
	size := MinS3PartSize*3 + MinS3PartSize/2
	want := sha256.New()
	io.Copy(want, &genReader{n: size})

	created, err := b.Put(ctx, "dir/big.bin", &genReader{n: size}, -1, Cond{})
	if err != nil || !created {
		t.Fatalf("Put: created %v, %v; want true, nil", created, err)
	}
	obj, err := b.Open(ctx, "dir/big.bin", Whole)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := sha256.New()
	n, err := io.Copy(got, obj.Body)
	obj.Body.Close()
	if err != nil || n != size || obj.Size != size {
		t.Fatalf("read %d bytes (Size %d), %v; want %d", n, obj.Size, err, size)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("bytes read back differ from those written")
	}
	// The store's ETag of a multipart object ends in "-PARTS".
	if !strings.HasSuffix(obj.ETag, `-4"`) {
		t.Errorf("ETag %s: want a 4-part multipart ETag", obj.ETag)
	}
	wantNoUploads(t, srv, b)

	// Exactly one part: a plain PutObject, found out by reading past it.
	if _, err := b.Put(ctx, "one.bin", &genReader{n: MinS3PartSize}, -1, Cond{}); err != nil {
		t.Fatalf("Put of one part: %v", err)
	}
	if info, err := b.Stat(ctx, "one.bin"); err != nil || info.Size != MinS3PartSize || strings.Contains(info.ETag, "-") {
		t.Errorf("Stat(one.bin) = %+v, %v; want a single-part object of %d bytes", info, err, MinS3PartSize)
	}
}

func TestS3FailingBodyLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t), S3Options{PartSize: MinS3PartSize})
	ctx := context.Background()
	bodyErr := errors.New("client went away")

	_, err := b.Put(ctx, "cut.bin", &genReader{n: 20 << 20, failAt: 7 << 20, err: bodyErr}, -1, Cond{})
	if !errors.Is(err, bodyErr) {
		t.Fatalf("Put: %v; want the body's error", err)
	}
	if _, err := b.Stat(ctx, "cut.bin"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat after a failed Put: %v; want ErrNotExist", err)
	}
	wantNoUploads(t, srv, b)

	// Failing within the first part never starts an upload.
	_, err = b.Put(ctx, "cut-small.bin", &genReader{n: 1 << 20, failAt: 1000, err: bodyErr}, -1, Cond{})
	if !errors.Is(err, bodyErr) {
		t.Fatalf("small Put: %v; want the body's error", err)
	}
	if _, err := b.Stat(ctx, "cut-small.bin"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat after a failed small Put: %v; want ErrNotExist", err)
	}
}

func TestS3CancelledPutLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t), S3Options{PartSize: MinS3PartSize})

	// Cancelled in the middle: two parts are up or going up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := b.Put(ctx, "cancelled.bin", &genReader{n: 30 << 20, failAt: 12 << 20, after: cancel}, -1, Cond{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v; want context.Canceled", err)
	}
	// Cancelled before it starts.
	_, err = b.Put(ctx, "early.bin", &genReader{n: 12 << 20}, -1, Cond{})
	if err == nil {
		t.Fatal("Put on a cancelled context succeeded")
	}
	for _, name := range []string{"cancelled.bin", "early.bin"} {
		if _, err := b.Stat(context.Background(), name); !errors.Is(err, ErrNotExist) {
			t.Errorf("Stat(%s): %v; want ErrNotExist", name, err)
		}
	}
	wantNoUploads(t, srv, b)
}

func TestS3CloseAbortsUploads(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t), S3Options{PartSize: MinS3PartSize})
	started := make(chan struct{})
	r := &genReader{n: 1 << 30, failAt: 11 << 20, after: func() { close(started) }}
	errc := make(chan error, 1)
	go func() {
		// Slow after 11 MiB so that Close finds it mid-upload.
		_, err := b.Put(context.Background(), "closing.bin", io.MultiReader(r, slowReader{}), -1, Cond{})
		errc <- err
	}()
	<-started
	b.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Put survived Close")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Put still running 30s after Close")
	}
	wantNoUploads(t, srv, b)
	if _, err := b.Put(context.Background(), "after.txt", strings.NewReader("x"), 1, Cond{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Put after Close: %v; want ErrUnavailable", err)
	}
}

// slowReader yields a little, slowly, forever.
type slowReader struct{}

func (slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return copy(p, make([]byte, 4096)), nil
}

// TestS3UploadMemory checks that a large upload holds about Concurrency+1
// parts: the live heap is sampled while 200 MiB go up.
func TestS3UploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 200 MiB")
	}
	srv := s3test.Start(t)
	opts := S3Options{PartSize: MinS3PartSize, Concurrency: 2}
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t), opts)
	ctx := context.Background()
	// Warm up the client's connections and buffers.
	if _, err := b.Put(ctx, "warm.bin", &genReader{n: 3 * MinS3PartSize}, -1, Cond{}); err != nil {
		t.Fatal(err)
	}

	// HeapInuse counts garbage until the next collection; collecting
	// often keeps it close to what is live, which is what is bounded.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	// Twice: the first GC moves the part pool to its victim cache, the
	// second empties it, so the parts count in the growth below.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	})
	_, err := b.Put(ctx, "big.bin", &genReader{n: 200 << 20}, -1, Cond{})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	growth := int64(peak.Load()) - int64(base)
	limit := opts.PartSize * int64(opts.Concurrency+2)
	t.Logf("heap in use grew by %.1f MiB at most (limit %.0f MiB)", float64(growth)/(1<<20), float64(limit)/(1<<20))
	if growth > limit {
		t.Errorf("heap grew by %d bytes during a 200 MiB upload; want under %d", growth, limit)
	}
	if info, err := b.Stat(ctx, "big.bin"); err != nil || info.Size != 200<<20 {
		t.Errorf("Stat(big.bin) = %+v, %v", info, err)
	}
}

func TestS3ConditionalCreate(t *testing.T) {
	srv := s3test.Start(t)
	url := "s3://" + srv.NewBucket(t)
	b := newS3On(t, srv, url, S3Options{PartSize: MinS3PartSize})
	// A second instance on the same bucket: only the store's conditional
	// commit can arbitrate between the two.
	other := newS3On(t, srv, url, S3Options{PartSize: MinS3PartSize})
	ctx := context.Background()

	if _, err := b.Put(ctx, "taken.txt", strings.NewReader("a"), 1, Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "taken.txt", strings.NewReader("b"), 1, Cond{IfAbsent: true}); !errors.Is(err, ErrExist) {
		t.Errorf("IfAbsent Put on a taken name: %v; want ErrExist", err)
	}
	if created, err := b.Put(ctx, "taken.txt", strings.NewReader("c"), 1, Cond{}); err != nil || created {
		t.Errorf("plain Put over a file: created %v, %v; want false, nil", created, err)
	}

	for _, tt := range []struct {
		name string
		size int64
		b2   *S3
	}{
		{"one instance", 10, b},
		{"two instances", 10, other},
		{"two instances, multipart", MinS3PartSize + 10, other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			var wins, exists atomic.Int32
			var wg sync.WaitGroup
			for _, be := range []*S3{b, tt.b2} {
				wg.Go(func() {
					created, err := be.Put(ctx, name, &genReader{n: tt.size}, tt.size, Cond{IfAbsent: true})
					switch {
					case err == nil && created:
						wins.Add(1)
					case errors.Is(err, ErrExist):
						exists.Add(1)
					default:
						t.Errorf("Put: created %v, %v", created, err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 || exists.Load() != 1 {
				t.Errorf("%d wins and %d ErrExist; want one of each", wins.Load(), exists.Load())
			}
		})
	}
	wantNoUploads(t, srv, b)
}

func TestS3CondHolds(t *testing.T) {
	b := newS3ForTest(t)
	ctx := context.Background()
	put(t, b, "f.txt", "one")
	etag := stat(t, b, "f.txt").ETag
	ifMatch := func(tag string) Cond {
		return Cond{Holds: func(cur Info, exists bool) bool { return exists && cur.ETag == tag }}
	}
	if _, err := b.Put(ctx, "f.txt", strings.NewReader("two"), 3, ifMatch(`"nope"`)); !errors.Is(err, ErrPrecondition) {
		t.Errorf("Put with a stale If-Match: %v; want ErrPrecondition", err)
	}
	if created, err := b.Put(ctx, "f.txt", strings.NewReader("two"), 3, ifMatch(etag)); err != nil || created {
		t.Errorf("Put with a matching If-Match: created %v, %v; want false, nil", created, err)
	}
	wantContent(t, b, "f.txt", "two")
	if err := b.Delete(ctx, "f.txt", false, ifMatch(etag)); !errors.Is(err, ErrPrecondition) {
		t.Errorf("Delete with a stale If-Match: %v; want ErrPrecondition", err)
	}
}

func TestS3Ranges(t *testing.T) {
	b := newS3ForTest(t)
	ctx := context.Background()
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	if _, err := b.Put(ctx, "r.bin", bytes.NewReader(data), 100, Cond{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rng        Range
		wantOffset int64
		wantLen    int
	}{
		{Range{Start: 10, Length: 20}, 10, 20},
		{Range{Start: 50, Length: -1}, 50, 50},
		{Range{Start: -5, Length: -1}, 95, 5},
		{Range{Start: 90, Length: 50}, 90, 10}, // past the end: what there is
		{Whole, 0, 100},
		{Range{Start: 200, Length: 10}, 100, 0}, // unsatisfiable: empty at Size
		{Range{Start: 100, Length: -1}, 100, 0},
	} {
		obj, err := b.Open(ctx, "r.bin", tt.rng)
		if err != nil {
			t.Errorf("Open(%+v): %v", tt.rng, err)
			continue
		}
		got, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil || obj.Offset != tt.wantOffset || obj.Size != 100 || obj.ETag == "" ||
			!bytes.Equal(got, data[tt.wantOffset:tt.wantOffset+int64(tt.wantLen)]) {
			t.Errorf("Open(%+v): Offset %d, Size %d, ETag %q, %d bytes, %v; want Offset %d, Size 100, %d bytes",
				tt.rng, obj.Offset, obj.Size, obj.ETag, len(got), err, tt.wantOffset, tt.wantLen)
		}
	}
	if err := b.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, "d", Whole); !errors.Is(err, ErrIsDir) {
		t.Errorf("Open(dir): %v; want ErrIsDir", err)
	}
	if _, err := b.Open(ctx, "nope", Range{Start: 5, Length: 1}); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open(missing, range): %v; want ErrNotExist", err)
	}
}

// TestS3Faults: a store that goes away gives ErrUnavailable quickly, and
// the backend works again once it is back.
func TestS3Faults(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t), S3Options{PartSize: MinS3PartSize})
	put(t, b, "kept.txt", "kept")
	srv.Stop()

	ops := map[string]func(ctx context.Context) error{
		"Stat": func(ctx context.Context) error { _, err := b.Stat(ctx, "kept.txt"); return err },
		"Open": func(ctx context.Context) error { _, err := b.Open(ctx, "kept.txt", Whole); return err },
		"Put": func(ctx context.Context) error {
			_, err := b.Put(ctx, "new.txt", strings.NewReader("x"), 1, Cond{})
			return err
		},
		"List":   func(ctx context.Context) error { return b.List(ctx, ".", func(Info) error { return nil }) },
		"Delete": func(ctx context.Context) error { return b.Delete(ctx, "kept.txt", false, Cond{}) },
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with the store down: %v; want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
	if n := b.Cleanup(func(string, ...any) {}); n != 0 {
		t.Errorf("Cleanup with the store down removed %d", n)
	}

	srv.Restart()
	wantContent(t, b, "kept.txt", "kept")
	put(t, b, "new.txt", "back")
	wantContent(t, b, "new.txt", "back")
}

func TestNewS3Errors(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(url string, cfg aws.Config, opts S3Options) error {
		opts.Config = &cfg
		b, err := NewS3(ctx, url, opts)
		if err == nil {
			b.Close()
		}
		return err
	}
	good := srv.Config()
	badKeys := srv.Config()
	badKeys.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: "wrong"}, nil
	}))
	closed := srv.Config()
	closed.BaseEndpoint = aws.String("http://127.0.0.1:1")

	for _, tt := range []struct {
		name string
		url  string
		cfg  aws.Config
		opts S3Options
		want error
	}{
		{"good", "s3://" + bucket + "/a/b/", good, S3Options{}, nil},
		{"missing bucket", "s3://no-such-bucket-here", good, S3Options{}, ErrBadConfig},
		{"wrong keys", "s3://" + bucket, badKeys, S3Options{}, ErrBadConfig},
		{"closed port", "s3://" + bucket, closed, S3Options{}, ErrUnavailable},
		{"not s3", "http://" + bucket, good, S3Options{}, ErrBadConfig},
		{"bad bucket", "s3://Bad_Bucket", good, S3Options{}, ErrBadConfig},
		{"bad prefix", "s3://" + bucket + "/a/../b", good, S3Options{}, ErrBadConfig},
		{"small parts", "s3://" + bucket, good, S3Options{PartSize: 1 << 20}, ErrBadConfig},
	} {
		err := open(tt.url, tt.cfg, tt.opts)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: NewS3(%s) = %v; want %v", tt.name, tt.url, err, tt.want)
		}
	}
}

// TestS3FromEnvironment: the AWS_* variables alone reach the store, with
// path-style addressing for the custom endpoint.
func TestS3FromEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	srv.SetEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := NewS3(ctx, "s3://"+bucket+"/env", S3Options{})
	if err != nil {
		t.Fatalf("NewS3 from the environment: %v", err)
	}
	defer b.Close()
	put(t, b, "x.txt", "hello")
	out, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("env/x.txt")})
	if err != nil || aws.ToInt64(out.ContentLength) != 5 {
		t.Errorf("the object under its key: %v", err)
	}
}

func TestS3ListOrder(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t)+"/p", S3Options{})
	ctx := context.Background()
	for _, name := range []string{"a-b", "a.txt", "a0", "a/x", "b c", "b/y", "b.", "z"} {
		put(t, b, name, name)
	}
	if err := b.Mkdir(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	// Keys no request could name are not listed.
	raw := srv.Client()
	for _, key := range []string{"p/back\\slash", "p/e//x"} {
		if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Logf("raw put %s: %v (store refuses it; fine)", key, err)
		}
	}
	var got []string
	if err := b.List(ctx, ".", func(i Info) error {
		n := i.Name
		if i.IsDir {
			n += "/"
		}
		got = append(got, n)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"a/", "a-b", "a.txt", "a0", "b/", "b c", "b.", "e/", "z"}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q; want %q", got, want)
	}
	if err := b.List(ctx, "a0", func(Info) error { return nil }); !errors.Is(err, ErrNotDir) {
		t.Errorf("List(file): %v; want ErrNotDir", err)
	}
	if err := b.List(ctx, "nope", func(Info) error { return nil }); !errors.Is(err, ErrNotExist) {
		t.Errorf("List(missing): %v; want ErrNotExist", err)
	}
}

// TestS3ListBuffer feeds key streams in S3's order and checks that the
// names come out in byte order, a directory winning over a file.
func TestS3ListBuffer(t *testing.T) {
	for _, keys := range [][]string{
		{"a-b", "a.txt", "a/", "a0"},
		{"x", "x/"},
		{"a b.c", "a b/", "a!", "a.", "a/", "ab"},
		{"a", "a.b/", "a/", "b"},
	} {
		var buf s3ListBuffer
		var got []string
		emit := func(i Info) error { got = append(got, i.Name); return nil }
		want := map[string]bool{}
		for _, k := range keys {
			info := Info{Name: strings.TrimSuffix(k, "/"), IsDir: strings.HasSuffix(k, "/")}
			want[info.Name] = true
			buf.add(info)
			buf.release(k, emit)
		}
		buf.release("", emit)
		if !slices.IsSorted(got) || len(got) != len(want) {
			t.Errorf("keys %q listed as %q; want each name once, sorted", keys, got)
		}
	}
}

func TestS3PropsLimit(t *testing.T) {
	b := newS3ForTest(t)
	ctx := context.Background()
	put(t, b, "f", "x")
	small := Prop{Name: xml.Name{Space: "urn:x", Local: "p"}, InnerXML: []byte("v")}
	patch(t, b, "f", []Prop{small})
	wantProps(t, b, "f", small)
	// Random digits hardly deflate: well over S3's 2 KiB of metadata.
	rnd := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 4000)
	for i := range big {
		big[i] = byte('0' + rnd.IntN(10))
	}
	err := b.PatchProps(ctx, "f", []Prop{{Name: xml.Name{Local: "big"}, InnerXML: big}}, nil)
	if !errors.Is(err, ErrNoSpace) {
		t.Errorf("PatchProps over 2 KiB: %v; want ErrNoSpace", err)
	}
	wantProps(t, b, "f", small)
	// Properties travel with a move, directories included.
	if err := b.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	patch(t, b, "d", []Prop{small})
	if _, err := b.Move(ctx, "d", "d2", false); err != nil {
		t.Fatal(err)
	}
	wantProps(t, b, "d2", small)
	if _, err := b.Move(ctx, "f", "d2/f", false); err != nil {
		t.Fatal(err)
	}
	wantProps(t, b, "d2/f", small)
}

func TestS3CopySourceEscaping(t *testing.T) {
	b := newS3ForTest(t)
	ctx := context.Background()
	for _, name := range []string{"a b+c.txt", "ünï%20cødé", "q?x=1&y#z"} {
		put(t, b, name, name)
		if _, err := b.Copy(ctx, name, name+".copy", false, false); err != nil {
			t.Errorf("Copy(%q): %v", name, err)
			continue
		}
		wantContent(t, b, name+".copy", name)
	}
}

func TestS3Cleanup(t *testing.T) {
	srv := s3test.Start(t)
	b := newS3On(t, srv, "s3://"+srv.NewBucket(t)+"/p", S3Options{})
	ctx := context.Background()
	// A young upload may be another instance's: left alone.
	out, err := srv.Client().CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: aws.String("p/young")})
	if err != nil {
		t.Fatal(err)
	}
	var reports []string
	n := b.Cleanup(func(f string, a ...any) { reports = append(reports, fmt.Sprintf(f, a...)) })
	if n != 0 || len(reports) != 0 {
		t.Errorf("Cleanup = %d, reports %q; want 0, none", n, reports)
	}
	srv.Client().AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: aws.String("p/young"), UploadId: out.UploadId})
}

// BenchmarkS3Open1KiB measures what a GET of a small object costs this
// side of the store: the SDK's request, signing and response handling.
func BenchmarkS3Open1KiB(b *testing.B) {
	srv := s3test.Start(b)
	s := newS3On(b, srv, "s3://"+srv.NewBucket(b), S3Options{})
	ctx := context.Background()
	if _, err := s.Put(ctx, "1k", strings.NewReader(strings.Repeat("x", 1024)), 1024, Cond{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		obj, err := s.Open(ctx, "1k", Whole)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, obj.Body)
		obj.Body.Close()
	}
}
