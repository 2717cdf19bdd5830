package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/httpbox/httpbox/internal/s3test"
)

// startOnS3 runs the binary with --storage s3://bucket[/prefix] on a
// versitygw, its AWS settings from the environment as a user would give
// them.
func startOnS3(t testing.TB, srv *s3test.Server, url string, args ...string) *serverProc {
	t.Helper()
	p := startBinaryCmd(t, "", func(c *exec.Cmd) { c.Env = append(os.Environ(), srv.Env()...) }, append([]string{"--storage", url}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("httpbox's stderr:\n%s", p.stderr)
		}
	})
	return p
}

// backendServers starts one server per backend: a directory, and a
// bucket (with a prefix, so that the prefix is exercised too).
func backendServers(t *testing.T, args ...string) map[string]*serverProc {
	t.Helper()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	return map[string]*serverProc{
		"dir": startBinary(t, t.TempDir(), args...),
		"s3":  startOnS3(t, srv, "s3://"+bucket+"/pre/fix", args...),
	}
}

// TestFilesOnEveryBackend: every /files/ rule of the contract, tried with
// the same requests on a directory and on S3, gives the same answers.
func TestFilesOnEveryBackend(t *testing.T) {
	servers := backendServers(t, "--max-body-size", "1MiB")
	for name, p := range servers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			filesContract(t, p)
		})
	}
}

// want checks a response's status, and its body when body is not nil.
func want(t *testing.T, r *rawResp, what string, status int, body []byte) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: got %d %q, want %d", what, r.status, r.body, status)
		return
	}
	if body != nil && !bytes.Equal(r.body, body) {
		t.Errorf("%s: body %q, want %q", what, r.body, body)
	}
}

func filesContract(t *testing.T, p *serverProc) {
	v1, v2 := []byte("first version\n"), []byte("second, longer version\n")

	// Create, replace, read.
	r := request(t, p, "PUT", "/files/a/b/c.txt", nil, string(v1))
	want(t, r, "PUT new", 201, nil)
	if loc := r.header.Get("Location"); loc != "/files/a/b/c.txt" {
		t.Errorf("PUT new: Location %q", loc)
	}
	want(t, request(t, p, "PUT", "/files/a/b/c.txt", nil, string(v2)), "PUT over", 204, nil)
	want(t, request(t, p, "POST", "/files/a/post.txt", nil, "posted"), "POST", 201, nil)
	r = getRaw(t, p, "/files/a/b/c.txt")
	want(t, r, "GET", 200, v2)
	etag, lastMod := r.header.Get("ETag"), r.header.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lastMod == "" || r.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("GET: ETag %q, Last-Modified %q, Accept-Ranges %q", etag, lastMod, r.header.Get("Accept-Ranges"))
	}
	r = request(t, p, "HEAD", "/files/a/b/c.txt", nil, "")
	want(t, r, "HEAD", 200, []byte{})
	if r.header.Get("Content-Length") != fmt.Sprint(len(v2)) || r.header.Get("ETag") != etag {
		t.Errorf("HEAD: Content-Length %q ETag %q, want %d and %s", r.header.Get("Content-Length"), r.header.Get("ETag"), len(v2), etag)
	}
	want(t, getRaw(t, p, "/files/a/%62/c.txt"), "GET with an escape", 200, v2)

	// Ranges and conditional GETs, decided on the stored validators.
	ranged := func(rng string, extra ...string) *rawResp {
		return request(t, p, "GET", "/files/a/b/c.txt", append([]string{"Range: " + rng}, extra...), "")
	}
	want(t, ranged("bytes=0-5"), "Range 0-5", 206, v2[:6])
	want(t, ranged("bytes=7-"), "Range 7-", 206, v2[7:])
	want(t, ranged("bytes=-8"), "Range -8", 206, v2[len(v2)-8:])
	r = ranged("bytes=100-")
	want(t, r, "Range past the end", 416, nil)
	if cr := r.header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", len(v2)) {
		t.Errorf("416: Content-Range %q", cr)
	}
	want(t, ranged("bytes=0-5", "If-Range: "+etag), "If-Range current", 206, v2[:6])
	want(t, ranged("bytes=0-5", `If-Range: "stale"`), "If-Range stale", 200, v2)
	want(t, request(t, p, "GET", "/files/a/b/c.txt", []string{"If-None-Match: " + etag}, ""), "If-None-Match", 304, []byte{})
	want(t, request(t, p, "GET", "/files/a/b/c.txt", []string{"If-Modified-Since: " + lastMod}, ""), "If-Modified-Since", 304, []byte{})
	want(t, request(t, p, "GET", "/files/a/b/c.txt", []string{`If-None-Match: "other"`}, ""), "If-None-Match other", 200, v2)

	// Conditional writes.
	want(t, request(t, p, "PUT", "/files/a/b/c.txt", []string{"If-None-Match: *"}, "x"), "If-None-Match: * onto a file", 412, nil)
	want(t, request(t, p, "PUT", "/files/a/b/c.txt", []string{`If-Match: "nope"`}, "x"), "If-Match wrong", 412, nil)
	want(t, request(t, p, "PUT", "/files/a/b/new.txt", []string{"If-None-Match: *"}, "n"), "If-None-Match: * free", 201, nil)
	want(t, request(t, p, "PUT", "/files/a/b/c.txt", []string{"If-Match: " + etag}, string(v1)), "If-Match current", 204, nil)
	want(t, request(t, p, "DELETE", "/files/a/b/c.txt", []string{"If-Match: " + etag}, ""), "DELETE If-Match stale", 412, nil)
	want(t, getRaw(t, p, "/files/a/b/c.txt"), "GET after conditional writes", 200, v1)

	// Conflicts (409), missing (404), bad input (400, 413).
	want(t, request(t, p, "PUT", "/files/a/b/c.txt/under", nil, "x"), "PUT under a file", 409, nil)
	want(t, request(t, p, "PUT", "/files/a/b", nil, "x"), "PUT onto a directory", 409, nil)
	want(t, request(t, p, "DELETE", "/files/a/b", nil, ""), "DELETE a non-empty directory", 409, nil)
	want(t, getRaw(t, p, "/files/missing"), "GET missing", 404, nil)
	want(t, getRaw(t, p, "/files/a/b/c.txt/x"), "GET under a file", 404, nil)
	want(t, request(t, p, "DELETE", "/files/missing", nil, ""), "DELETE missing", 404, nil)
	want(t, request(t, p, "PUT", "/files/%2e%2e/x", nil, "x"), "PUT ..", 400, nil)
	want(t, request(t, p, "PUT", "/files/"+strings.Repeat("n", 256), nil, "x"), "PUT a 256-byte name", 400, nil)
	want(t, request(t, p, "PUT", "/files/big", nil, strings.Repeat("b", 1<<20+1)), "PUT over --max-body-size", 413, nil)
	want(t, getRaw(t, p, "/files/big"), "GET after 413", 404, nil)

	// An upload cut off mid-body changes nothing.
	c := startUpload(t, p, "/files/a/b/c.txt", 1000, []byte("partial"))
	c.c.Close()
	c = startUpload(t, p, "/files/cut/new.txt", 1000, []byte("partial"))
	c.c.Close()
	time.Sleep(200 * time.Millisecond)
	want(t, getRaw(t, p, "/files/a/b/c.txt"), "GET after a cut-off replace", 200, v1)
	want(t, getRaw(t, p, "/files/cut/new.txt"), "GET after a cut-off create", 404, nil)
	want(t, getRaw(t, p, "/files/cut"), "GET the parent of a cut-off create", 404, nil)

	// Deletes: files, then the directories they leave empty.
	for _, name := range []string{"a/b/c.txt", "a/b/new.txt", "a/post.txt"} {
		want(t, request(t, p, "DELETE", "/files/"+name, nil, ""), "DELETE "+name, 204, nil)
	}
	want(t, getRaw(t, p, "/files/a/b/c.txt"), "GET deleted", 404, nil)
	assertHealthy(t, p)
}

// TestS3ObjectsArePlain: what httpbox writes is a plain object under the
// prefix, and what other tools write there is served.
func TestS3ObjectsArePlain(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	p := startOnS3(t, srv, "s3://"+bucket+"/team")
	client := srv.Client()
	ctx := context.Background()

	want(t, request(t, p, "PUT", "/files/docs/a.txt", nil, "by httpbox"), "PUT", 201, nil)
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("team/docs/a.txt")})
	if err != nil {
		t.Fatalf("the object httpbox wrote is not at team/docs/a.txt: %v", err)
	}
	var got bytes.Buffer
	_, _ = got.ReadFrom(out.Body)
	out.Body.Close()
	if got.String() != "by httpbox" {
		t.Errorf("object bytes %q, want exactly the file's", got.String())
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("team/other/b.bin"), Body: strings.NewReader("by another tool")})
	if err != nil {
		t.Fatal(err)
	}
	want(t, getRaw(t, p, "/files/other/b.bin"), "GET an object another tool wrote", 200, []byte("by another tool"))
	want(t, getRaw(t, p, "/files/team/docs/a.txt"), "the prefix is not visible", 404, nil)
}

// TestS3StartChecks: a bad URL, a missing bucket or refused keys exit 2
// with a one-line reason; an endpoint that cannot be reached exits 1.
func TestS3StartChecks(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	env := srv.Env()
	wrongKeys := append(append([]string{}, env...), "AWS_SECRET_ACCESS_KEY=wrong-secret")
	closed := append(append([]string{}, env...), "AWS_ENDPOINT_URL_S3=http://127.0.0.1:1")
	tests := []struct {
		name string
		env  []string
		url  string
		code int
	}{
		{"bad URL", env, "s3://", 2},
		{"bad scheme", env, "s4://" + bucket, 2},
		{"missing bucket", env, "s3://no-such-bucket-here", 2},
		{"refused keys", wrongKeys, "s3://" + bucket, 2},
		{"unreachable endpoint", closed, "s3://" + bucket, 1},
		{"with --directory too", env, "s3://" + bucket, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--port", "0", "--storage", tt.url}
			if tt.name == "with --directory too" {
				args = append(args, "--directory", t.TempDir())
			}
			code, _, stderr := runBinary(t, tt.env, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tt.code || len(lines) != 1 || !strings.HasPrefix(lines[0], "httpbox: ") {
				t.Errorf("exit %d, stderr %q; want exit %d and one line", code, stderr, tt.code)
			}
		})
	}
}

// TestS3Faults: while the store is down, requests get 502, 503 or 504
// with a reason and the log says why; the server keeps serving, and
// recovers by itself once the store is back.
func TestS3Faults(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	p := startOnS3(t, srv, "s3://"+bucket)
	want(t, request(t, p, "PUT", "/files/f", nil, "kept"), "PUT", 201, nil)

	srv.Stop()
	for _, step := range []struct{ method, body string }{{"GET", ""}, {"HEAD", ""}, {"PUT", "new"}, {"DELETE", ""}} {
		r := request(t, p, step.method, "/files/f", nil, step.body)
		if r.status != 502 && r.status != 503 && r.status != 504 {
			t.Errorf("%s with the store down: got %d %q, want 502, 503 or 504", step.method, r.status, r.body)
		}
	}
	assertHealthy(t, p)
	if !strings.Contains(p.stderr.String(), "connect") {
		t.Errorf("the log does not say why the store failed:\n%s", p.stderr)
	}

	srv.Restart()
	var r *rawResp
	if !pollUntil(10*time.Second, func() bool {
		r = getRaw(t, p, "/files/f")
		return r.status == 200
	}) {
		t.Fatalf("after the store came back: got %d %q, want 200", r.status, r.body)
	}
	want(t, r, "GET after recovery", 200, []byte("kept"))
}

// TestS3DownloadTimeouts: a body streamed from S3 keeps the write-timeout
// contract, as a file does: a slow but steady reader gets every byte, a
// client that stops reading is disconnected.
func TestS3DownloadTimeouts(t *testing.T) {
	srv := s3test.Start(t)
	p := startOnS3(t, srv, "s3://"+srv.NewBucket(t), "--write-timeout", "1s")
	const size = 8 << 20
	body := pattern(5, size)
	want(t, upload(t, p, "PUT", "/files/eight", body), "PUT", 201, nil)

	t.Run("slow steady download completes", func(t *testing.T) {
		c := dialRawWith(t, p, smallRcvBufDialer(64<<10))
		c.send("GET /files/eight HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %v, %v", resp, err)
		}
		readSlowly(t, c.c, resp.Body, body)
	})

	t.Run("stalled download is cut off", func(t *testing.T) {
		c := dialRawWith(t, p, smallRcvBufDialer(32<<10))
		c.send("GET /files/eight HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(4 * time.Second) // --write-timeout 1s, and slack
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := io.Copy(io.Discard, c.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open 4s after the client stopped reading (read %d bytes, then timed out)", n)
		}
		if n >= size {
			t.Fatalf("stalled client still received all %d bytes", n)
		}
		assertHealthy(t, p)
	})

	t.Run("store gone mid-download", func(t *testing.T) {
		// The store dies while a body is streamed from it: the client
		// gets the whole body or a cut connection, never a hang and
		// never a short body that looks complete; the server serves on.
		big := pattern(6, 64<<20)
		want(t, upload(t, p, "PUT", "/files/big", big), "PUT 64 MiB", 201, nil)
		c := dialRawWith(t, p, smallRcvBufDialer(32<<10))
		c.send("GET /files/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %v, %v", resp, err)
		}
		first := make([]byte, 1<<20)
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		srv.Stop()
		defer srv.Restart()
		_ = c.c.SetReadDeadline(time.Now().Add(3 * ioTimeout))
		rest, err := io.ReadAll(resp.Body)
		var ne net.Error
		switch got := append(first, rest...); {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the download hung after the store went away (%d bytes)", len(got))
		case err == nil && !bytes.Equal(got, big):
			t.Fatalf("a body of %d bytes ended cleanly, but it is not the file's %d", len(got), len(big))
		}
		assertHealthy(t, p)
	})
}

// TestS3ShutdownFinishesUpload: SIGTERM lets an upload to S3 in flight
// finish (the store's requests are not cancelled when the server starts
// shutting down), and one cut off at the timeout leaves no object and no
// multipart upload.
func TestS3ShutdownFinishesUpload(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	for _, tt := range []struct {
		name   string
		finish bool
	}{{"finished", true}, {"cut-off", false}} {
		t.Run(tt.name, func(t *testing.T) {
			p := startOnS3(t, srv, "s3://"+bucket, "--s3-part-size", "5MiB", "--shutdown-timeout", "2s")
			body := pattern(3, 12<<20) // three parts
			half := 7 << 20            // one part sent to the store
			c := startUpload(t, p, "/files/"+tt.name, len(body), body[:half])
			time.Sleep(300 * time.Millisecond)
			p.signal(t, syscall.SIGTERM)
			time.Sleep(300 * time.Millisecond)
			if !tt.finish {
				if code := p.wait(t, 10*time.Second); code != 1 {
					t.Errorf("exit code after cutting an upload off: %d, want 1", code)
				}
				ctx := context.Background()
				if _, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(tt.name)}); err == nil {
					t.Errorf("an upload cut off at shutdown left an object")
				}
				ups, err := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
				if err != nil || len(ups.Uploads) != 0 {
					t.Errorf("multipart uploads left: %v (%v), want none", ups, err)
				}
				return
			}
			if err := c.trySend(string(body[half:])); err != nil {
				t.Fatalf("sending the rest after SIGTERM: %v", err)
			}
			if r := c.mustRead("PUT"); r.status != 201 {
				t.Errorf("in-flight PUT across SIGTERM: got %d %q, want 201", r.status, r.body)
			}
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Errorf("exit code: got %d, want 0", code)
			}
			out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(tt.name)})
			if err != nil {
				t.Fatalf("the upload finished across SIGTERM is not in the bucket: %v", err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, body) {
				t.Errorf("stored object: %d bytes, not the body sent", len(got))
			}
		})
	}
}
