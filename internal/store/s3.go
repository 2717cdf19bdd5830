package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 part sizes: S3 refuses parts under 5 MiB (but the last), and 8 MiB is
// what the AWS tools use.
const (
	MinS3PartSize     int64 = 5 << 20
	DefaultS3PartSize int64 = 8 << 20
	// DefaultS3Concurrency parts of one s3Upload in flight keep a link busy
	// while the next part is read from the client.
	DefaultS3Concurrency = 2
)

// S3 keys are at most 1024 bytes; a segment is held to the 255 bytes of
// a file name so that a tree moves between the two backends unchanged.
const (
	maxS3Key     = 1024
	maxS3Segment = 255
)

const (
	// s3ConnectTimeout bounds the TCP (and TLS) handshake with the store; a
	// store that is down must not hold a request for long.
	s3ConnectTimeout = 5 * time.Second
	// s3HeaderTimeout bounds the wait for an answer once a request is sent.
	// It is generous because completing or copying a large object takes
	// the store a while; bodies themselves have no overall timeout.
	s3HeaderTimeout = 2 * time.Minute
	// s3AbortTimeout bounds the clean-up of a failed s3Upload, which runs on
	// a fresh context because the request's own is often what failed.
	s3AbortTimeout = 30 * time.Second
	// s3SettleTimeout bounds the wait, once a Put is cut off, for the
	// answer to a request the store may be acting on (creating or
	// completing the upload, a part sent in full): the upload can only be
	// aborted for good once the store is done with it.
	s3SettleTimeout = 30 * time.Second
	// s3IdleConns bounds the idle connections kept to the store: about
	// the requests a busy instance has in flight at once.
	s3IdleConns = 256
	// s3StaleUpload is the age after which Cleanup takes an unfinished
	// multipart s3Upload for one a killed process left behind.
	s3StaleUpload = time.Hour
)

// S3Options tune the S3 backend; the zero value takes the defaults.
type S3Options struct {
	// PartSize of multipart uploads: DefaultS3PartSize when 0, at least
	// MinS3PartSize.
	PartSize int64
	// Concurrency is how many parts of one s3Upload are sent at once:
	// DefaultS3Concurrency when 0.
	Concurrency int
	// Config, when set, is used as is instead of the AWS environment and
	// shared files (tests point it at their own server).
	Config *aws.Config
}

// S3 keeps files as objects of an S3 bucket under a key prefix. A
// directory is a key prefix, alive while a key is under it or while its
// empty marker object "dir/" exists.
//
// One s3Upload holds at most Concurrency+1 parts in memory.
type S3 struct {
	client      *s3.Client
	bucket      string
	prefix      string // "" or "p" (no slashes at either end)
	partSize    int64
	concurrency int
	parts       sync.Pool // *[]byte of partSize
	locks       s3KeyLocks

	mu     sync.Mutex
	closed bool
	writes map[uint64]context.CancelFunc
	nextID uint64
	// uploads counts the multipart uploads started and not yet completed
	// or aborted; Close waits for it.
	uploads sync.WaitGroup
}

var _ Backend = (*S3)(nil)

// NewS3 opens the bucket named by url, "s3://BUCKET[/PREFIX]", with the
// AWS settings of the environment and shared files, and checks that the
// bucket answers. A bad URL or option, a missing bucket or refused keys
// are ErrBadConfig; a store that cannot be reached is ErrUnavailable.
func NewS3(ctx context.Context, url string, opts S3Options) (*S3, error) {
	bucket, prefix, err := parseS3URL(url)
	if err != nil {
		return nil, err
	}
	s := &S3{bucket: bucket, prefix: prefix, partSize: opts.PartSize, concurrency: opts.Concurrency}
	if s.partSize == 0 {
		s.partSize = DefaultS3PartSize
	}
	if s.partSize < MinS3PartSize {
		return nil, fmt.Errorf("s3 part size %d: %w: at least %d bytes", s.partSize, ErrBadConfig, MinS3PartSize)
	}
	if s.concurrency == 0 {
		s.concurrency = DefaultS3Concurrency
	}
	if s.concurrency < 1 {
		return nil, fmt.Errorf("s3 concurrency %d: %w: at least 1", s.concurrency, ErrBadConfig)
	}
	s.parts.New = func() any {
		b := make([]byte, s.partSize)
		return &b
	}
	s.writes = make(map[uint64]context.CancelFunc)

	var cfg aws.Config
	if opts.Config != nil {
		cfg = opts.Config.Copy()
	} else if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
		return nil, fmt.Errorf("s3 config: %w: %v", ErrBadConfig, err)
	}
	cfg.HTTPClient = awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = s3ConnectTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = s3ConnectTimeout
			tr.ResponseHeaderTimeout = s3HeaderTimeout
			// Every request of ours may be a request to the store: with
			// the SDK's 10 idle connections per host, a busy server
			// opened a connection per request (thousands in TIME-WAIT).
			tr.MaxIdleConns = s3IdleConns
			tr.MaxIdleConnsPerHost = s3IdleConns
		})
	// CRC32 of every byte up and down, on top of TCP's checksums and
	// SigV4's payload hash (plain HTTP) or TLS (HTTPS), only costs CPU; a
	// user who wants it says so in AWS_REQUEST_CHECKSUM_CALCULATION and
	// AWS_RESPONSE_CHECKSUM_VALIDATION.
	if cfg.RequestChecksumCalculation == aws.RequestChecksumCalculationUnset {
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}
	if cfg.ResponseChecksumValidation == aws.ResponseChecksumValidationUnset {
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		// A custom endpoint (MinIO, versitygw, Ceph...) rarely has a DNS
		// name per bucket.
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		// Objects put without a checksum (by other tools, or in one
		// part) are common: saying so on every GET only fills the log.
		o.DisableLogOutputChecksumValidationSkipped = true
	})

	if cfg.Credentials != nil {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			// Keys fetched over the network (SSO, IMDS) may fail for want
			// of the network; anything else is a setting to fix.
			kind := ErrBadConfig
			if k := s3Kind(err); k == ErrUnavailable || k == ErrTimeout {
				kind = ErrUnavailable
			}
			return nil, fmt.Errorf("s3 credentials: %w: %v", kind, err)
		}
	}
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		// Any answer of the store about the bucket or the keys (404,
		// 403, 400, 301 for another region) is a setting to fix; no
		// answer, or a 5xx, may pass by itself.
		kind := ErrUnavailable
		if st := s3HTTPStatus(err); st >= 300 && st < 500 {
			kind = ErrBadConfig
		}
		return nil, fmt.Errorf("s3 bucket %s: %w: %v", s.bucket, kind, err)
	}
	return s, nil
}

// parseS3URL splits "s3://BUCKET[/PREFIX]"; a trailing slash is allowed.
func parseS3URL(url string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(url, "s3://")
	if !ok {
		return "", "", fmt.Errorf("storage url %q: %w: want s3://BUCKET[/PREFIX]", url, ErrBadConfig)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.TrimSuffix(prefix, "/")
	if !s3ValidBucket(bucket) {
		return "", "", fmt.Errorf("storage url %q: %w: bad bucket name %q", url, ErrBadConfig, bucket)
	}
	if prefix != "" && !s3ValidPrefix(prefix) {
		return "", "", fmt.Errorf("storage url %q: %w: bad prefix %q", url, ErrBadConfig, prefix)
	}
	return bucket, prefix, nil
}

// s3ValidBucket accepts the S3 bucket naming rules, loosely: 3 to 63
// lower-case letters, digits, dots and hyphens.
func s3ValidBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for _, c := range []byte(b) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func s3ValidPrefix(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if !s3ValidSegment(seg) {
			return false
		}
	}
	return true
}

// s3ValidSegment reports whether seg can be one segment of a name: what a
// client can ask for through the path checks, and so what List may show.
func s3ValidSegment(seg string) bool {
	return seg != "" && seg != "." && seg != ".." && utf8.ValidString(seg) &&
		!strings.ContainsAny(seg, "\x00\\")
}

// key is name's object key; "." is the prefix itself.
func (s *S3) key(name string) string {
	switch {
	case name == ".":
		return s.prefix
	case s.prefix == "":
		return name
	}
	return s.prefix + "/" + name
}

// dirPrefix is the key prefix of everything under the directory name,
// which is also its marker's key. The root of an unprefixed bucket is "".
func (s *S3) dirPrefix(name string) string {
	k := s.key(name)
	if k == "" {
		return ""
	}
	return k + "/"
}

// CheckName implements Backend.
func (s *S3) CheckName(name string) error {
	if name == "." {
		return nil
	}
	if len(s.key(name)) > maxS3Key {
		return fmt.Errorf("s3 %s: %w: key longer than %d bytes", name, ErrBadName, maxS3Key)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if len(seg) > maxS3Segment {
			return fmt.Errorf("s3 %s: %w: a segment longer than %d bytes", name, ErrBadName, maxS3Segment)
		}
	}
	return nil
}

// head describes the object key; exists is false (and err nil) when
// there is none.
func (s *S3) head(ctx context.Context, key string) (info Info, meta *s3.HeadObjectOutput, exists bool, err error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		err = s3Error("head", key, err)
		if errors.Is(err, ErrNotExist) {
			return Info{}, nil, false, nil
		}
		return Info{}, nil, false, err
	}
	return Info{
		Size:    aws.ToInt64(out.ContentLength),
		ModTime: aws.ToTime(out.LastModified),
		ETag:    aws.ToString(out.ETag),
	}, out, true, nil
}

// statDir reports whether anything is under the directory name (its
// marker included), with the time of the first key found: the marker's
// when there is one, since it sorts first.
func (s *S3) statDir(ctx context.Context, name string) (Info, bool, error) {
	if name == "." {
		return Info{IsDir: true}, true, nil
	}
	p := s.dirPrefix(name)
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: &p, MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return Info{}, false, s3Error("list", p, err)
	}
	if len(out.Contents) == 0 {
		return Info{}, false, nil
	}
	return Info{IsDir: true, ModTime: aws.ToTime(out.Contents[0].LastModified)}, true, nil
}

// Stat implements Backend. A key that is an object wins over a directory
// of the same name, as on a store that can hold both.
func (s *S3) Stat(ctx context.Context, name string) (Info, error) {
	if name == "." {
		return Info{IsDir: true}, nil
	}
	info, _, ok, err := s.head(ctx, s.key(name))
	if err != nil || ok {
		return info, err
	}
	info, ok, err = s.statDir(ctx, name)
	if err != nil {
		return Info{}, err
	}
	if !ok {
		return Info{}, fmt.Errorf("s3 stat %s: %w", s.key(name), ErrNotExist)
	}
	return info, nil
}

// Open implements Backend. The range goes to the store as one Range
// header, and Offset says where the answer starts; a range the store
// finds unsatisfiable gives an empty Body at Offset Size, so the caller
// answers 416 with the size. Conditional headers are never sent: the
// caller evaluates them on Info.
func (s *S3) Open(ctx context.Context, name string, rng Range) (Object, error) {
	if name == "." {
		return Object{}, fmt.Errorf("s3 get %s: %w", s.key(name), ErrIsDir)
	}
	key := s.key(name)
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if !rng.IsWhole() {
		in.Range = aws.String(s3RangeHeader(rng))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if s3HTTPStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return s.openPastEnd(ctx, name)
		}
		err = s3Error("get", key, err)
		if errors.Is(err, ErrNotExist) {
			if _, isDir, derr := s.statDir(ctx, name); derr != nil {
				return Object{}, derr
			} else if isDir {
				return Object{}, fmt.Errorf("s3 get %s: %w", key, ErrIsDir)
			}
		}
		return Object{}, err
	}
	obj := Object{
		Info: Info{
			Size:    aws.ToInt64(out.ContentLength),
			ModTime: aws.ToTime(out.LastModified),
			ETag:    aws.ToString(out.ETag),
		},
		Body:   &s3Body{rc: out.Body, key: key},
		Length: aws.ToInt64(out.ContentLength),
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		start, total, ok := s3ParseContentRange(cr)
		if !ok {
			out.Body.Close()
			return Object{}, fmt.Errorf("s3 get %s: %w: bad Content-Range %q", key, ErrUpstream, cr)
		}
		obj.Offset, obj.Size = start, total
	}
	return obj, nil
}

// openPastEnd answers a range the store found unsatisfiable: the file's
// Info and nothing to read.
func (s *S3) openPastEnd(ctx context.Context, name string) (Object, error) {
	key := s.key(name)
	info, _, ok, err := s.head(ctx, key)
	if err != nil {
		return Object{}, err
	}
	if !ok {
		return Object{}, fmt.Errorf("s3 get %s: %w", key, ErrNotExist)
	}
	return Object{Info: info, Body: io.NopCloser(strings.NewReader("")), Offset: info.Size}, nil
}

// s3RangeHeader writes rng as an HTTP Range header value.
func s3RangeHeader(rng Range) string {
	switch {
	case rng.Start < 0:
		return "bytes=-" + strconv.FormatInt(-rng.Start, 10)
	case rng.Length <= 0:
		return "bytes=" + strconv.FormatInt(rng.Start, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(rng.Start, 10) + "-" + strconv.FormatInt(rng.Start+rng.Length-1, 10)
}

// s3ParseContentRange reads "bytes START-END/TOTAL".
func s3ParseContentRange(cr string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, 0, false
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	total, err2 := strconv.ParseInt(size, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || start > total {
		return 0, 0, false
	}
	return start, total, true
}

// s3Body translates the errors of a download cut off midway, so that the
// caller sees a sentinel there too.
type s3Body struct {
	rc  io.ReadCloser
	key string
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = s3Error("get", b.key, err)
	}
	return n, err
}

func (b *s3Body) Close() error { return b.rc.Close() }

// Cleanup implements Backend: it aborts the multipart uploads under the
// prefix that started over an hour ago. A younger one may belong to
// another instance still uploading. Without a prefix that is every
// upload of the bucket, another tool's too: give httpbox a prefix of its
// own in a shared bucket.
func (s *S3) Cleanup(report func(format string, args ...any)) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	prefix := s.dirPrefix(".")
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	removed := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			report("%v", s3Error("list uploads", prefix, err))
			return removed
		}
		for _, u := range out.Uploads {
			if time.Since(aws.ToTime(u.Initiated)) < s3StaleUpload {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil {
				report("%v", s3Error("abort s3Upload", aws.ToString(u.Key), err))
				continue
			}
			removed++
		}
		// A store that says "truncated" without moving on would loop.
		if !aws.ToBool(out.IsTruncated) ||
			aws.ToString(out.NextKeyMarker) == aws.ToString(in.KeyMarker) &&
				aws.ToString(out.NextUploadIdMarker) == aws.ToString(in.UploadIdMarker) {
			return removed
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// track registers a write so that Close can cut it off; done must be
// called when the write is over.
func (s *S3) track(ctx context.Context, op, key string) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, fmt.Errorf("s3 %s %s: %w: closed", op, key, ErrUnavailable)
	}
	ctx, cancel := context.WithCancel(ctx)
	id := s.nextID
	s.nextID++
	s.writes[id] = cancel
	return ctx, func() {
		s.mu.Lock()
		delete(s.writes, id)
		s.mu.Unlock()
		cancel()
	}, nil
}

// Close implements Backend: writes in flight are cancelled, and their
// multipart uploads aborted when it returns, even those whose Put is
// blocked reading its body from a client that sends nothing. A request
// the store may be acting on is let finish first, for at most
// s3SettleTimeout.
func (s *S3) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, cancel := range s.writes {
		cancel()
	}
	s.mu.Unlock()
	s.uploads.Wait()
	return nil
}

// s3KeyLocks serializes the check and the commit of writes to one key
// within this instance, so that conditions hold here even on a store
// that ignores conditional headers.
type s3KeyLocks struct {
	mu sync.Mutex
	m  map[string]*s3KeyLock
}

type s3KeyLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (l *s3KeyLocks) lock(key string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*s3KeyLock)
	}
	kl := l.m[key]
	if kl == nil {
		kl = &s3KeyLock{}
		l.m[key] = kl
	}
	kl.refs++
	l.mu.Unlock()

	kl.mu.Lock()
	return func() {
		kl.mu.Unlock()
		l.mu.Lock()
		if kl.refs--; kl.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
