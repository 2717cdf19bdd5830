package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxS3Parts is the most parts S3 takes in one multipart upload.
const maxS3Parts = 10000

// s3CommitAttempts bounds how often a commit looks again when another
// writer changed the name between its look and its write.
const s3CommitAttempts = 3

// Put implements Backend. A body that fits in one part is sent with one
// PutObject; a longer one streams as a multipart upload, at most
// Concurrency parts in flight, and is aborted on any failure, so a cut
// off upload leaves no object and no parts. A request the store may
// already be acting on (see s3Settle and s3PartBody) is not cut off but
// let finish, so that the abort, after it, is final.
//
// Dead properties of a file that is replaced are not kept: the new
// object starts with none.
func (s *S3) Put(ctx context.Context, name string, body io.Reader, size int64, cond Cond) (created bool, err error) {
	key := s.key(name)
	if name == "." {
		return false, fmt.Errorf("s3 put %s: %w", key, ErrIsDir)
	}
	if err := s.checkNoFileAbove(ctx, "put", name); err != nil {
		return false, err
	}
	if _, isDir, err := s.statDir(ctx, name); err != nil {
		return false, err
	} else if isDir {
		return false, fmt.Errorf("s3 put %s: %w", key, ErrIsDir)
	}
	// A condition that already fails is refused before the body is
	// read; commit asks again at the end.
	if cond.IfAbsent || cond.Holds != nil {
		cur, _, exists, err := s.head(ctx, key)
		if err != nil {
			return false, err
		}
		if err := s3CheckCond("put", key, cond, cur, exists); err != nil {
			return false, err
		}
	}

	ctx, done, err := s.track(ctx, "put", key)
	if err != nil {
		return false, err
	}
	defer done()

	if size >= 0 && size < s.partSize {
		// A body known to fit in one request gets a buffer of its own
		// size: many small uploads at once must not hold a part each.
		small := make([]byte, size)
		n, err := io.ReadFull(body, small)
		if err == nil {
			err = s3BodyEnds(body)
		}
		if err != nil {
			return false, fmt.Errorf("s3 put %s: reading the body (%d of %d bytes): %w", key, n, size, err)
		}
		return s.putObject(ctx, key, nil, &small, n, cond)
	}
	bufs := s.partBufs()
	defer bufs.release()
	first, n, err := bufs.fill(key, body)
	if err != nil {
		return false, err
	}
	if n < len(*first) {
		return s.putObject(ctx, key, bufs, first, n, cond)
	}
	return s.putMultipart(ctx, key, body, bufs, first, cond)
}

// partBufs hands out the part buffers of one upload. They come from the
// backend's pool, but go back to a free list of the upload's own: a
// sync.Pool keeps what a goroutine puts in a slot of its processor that
// other processors cannot take from, so the reader, on another one,
// would often miss it and allocate, and the upload would hold more than
// Concurrency+1 parts.
func (s *S3) partBufs() *s3PartBufs {
	return &s3PartBufs{pool: &s.parts, free: make(chan *[]byte, s.concurrency+1)}
}

type s3PartBufs struct {
	pool *sync.Pool
	free chan *[]byte
}

func (b *s3PartBufs) get() *[]byte {
	select {
	case buf := <-b.free:
		return buf
	default:
		return b.pool.Get().(*[]byte)
	}
}

// put takes a buffer back; it is safe from several goroutines.
func (b *s3PartBufs) put(buf *[]byte) {
	select {
	case b.free <- buf:
	default:
		b.pool.Put(buf)
	}
}

// release hands the upload's buffers to the next upload, once no part
// is in flight any more.
func (b *s3PartBufs) release() {
	for {
		select {
		case buf := <-b.free:
			b.pool.Put(buf)
		default:
			return
		}
	}
}

// fill reads the next part of body into a buffer. A short count means
// the body is over. On an error, the body's own, wrapped, the buffer is
// already back.
func (b *s3PartBufs) fill(key string, body io.Reader) (*[]byte, int, error) {
	buf := b.get()
	n, err := io.ReadFull(body, *buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if err != nil {
		b.put(buf)
		return nil, 0, fmt.Errorf("s3 put %s: reading the body: %w", key, err)
	}
	return buf, n, nil
}

// putObject stores a body that fits in one request, buf[:n]; a buffer
// of bufs goes back to them once sent.
func (s *S3) putObject(ctx context.Context, key string, bufs *s3PartBufs, buf *[]byte, n int, cond Cond) (bool, error) {
	created, err := s.commit(ctx, key, cond, func(ifNoneMatch, ifMatch *string) error {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: &key,
			Body: bytes.NewReader((*buf)[:n]), ContentLength: aws.Int64(int64(n)),
			IfNoneMatch: ifNoneMatch, IfMatch: ifMatch,
		})
		return err
	})
	if err == nil && bufs != nil {
		// After a failed request the transport may still be reading the
		// buffer; only a sent one is reused.
		bufs.put(buf)
	}
	return created, err
}

// s3BodyEnds checks that a body read up to its declared size has nothing
// more: a longer one is not the body that was announced.
func s3BodyEnds(body io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(body, one[:])
	switch {
	case n > 0:
		return errors.New("body longer than its declared size")
	case err == io.EOF:
		return nil
	}
	return err
}

// putMultipart streams body, whose first full part is in first.
func (s *S3) putMultipart(ctx context.Context, key string, body io.Reader, bufs *s3PartBufs, first *[]byte, cond Cond) (created bool, err error) {
	// A body of exactly one part is only known to be over once the next
	// read finds nothing.
	next, n, err := bufs.fill(key, body)
	if err != nil {
		return false, err
	}
	if n == 0 {
		bufs.put(next)
		return s.putObject(ctx, key, bufs, first, len(*first), cond)
	}

	// Creating the upload is let finish: the store creates it once it
	// has the request, and an upload whose id went with a cut off answer
	// could not be aborted.
	cctx, cancel := s3Settle(ctx)
	out, err := s.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	cancel()
	if err != nil {
		return false, s3Error("start upload", key, err)
	}
	up := &s3Upload{
		s: s, ctx: ctx, bufs: bufs, key: key, id: out.UploadId,
		sem: make(chan struct{}, s.concurrency), stopped: make(chan struct{}),
		sending: make(map[*s3PartBody]context.CancelFunc),
	}
	up.partCtx, up.cancelParts = context.WithCancel(context.WithoutCancel(ctx))
	s.uploads.Add(1)
	committed := false
	// Deferred, so that a panic (in body.Read, say) aborts as well.
	defer func() {
		if committed {
			up.end.Do(func() {
				up.cancelParts()
				s.uploads.Done()
			})
		} else {
			up.abort()
		}
	}()
	// A cancelled ctx (Close, at a shutdown that cuts uploads off) aborts
	// at once: the body may be blocked in a read from a client that sends
	// nothing, and would only return when the process is gone.
	defer context.AfterFunc(ctx, up.abort)()

	if err := up.send(1, first, len(*first)); err != nil {
		return false, err
	}
	for num := int32(2); ; num++ {
		if num > maxS3Parts {
			return false, fmt.Errorf("s3 put %s: %w: over %d parts of %d bytes", key, ErrNoSpace, maxS3Parts, s.partSize)
		}
		last := n < len(*next)
		if err := up.send(num, next, n); err != nil {
			return false, err
		}
		if last {
			break
		}
		if next, n, err = bufs.fill(key, body); err != nil {
			return false, err
		}
		if n == 0 {
			bufs.put(next)
			break
		}
	}
	parts, err := up.wait()
	if err != nil {
		return false, err
	}

	created, err = s.commit(ctx, key, cond, func(ifNoneMatch, ifMatch *string) error {
		// Completing is let finish: the store goes on with it once it has
		// the request, and one that fails after the abort puts the upload
		// back (versitygw does), while one that succeeds makes an object
		// that Put would have said it failed to write.
		cctx, cancel := s3Settle(ctx)
		defer cancel()
		_, err := s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
			Bucket: &s.bucket, Key: &key, UploadId: up.id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
			IfNoneMatch:     ifNoneMatch, IfMatch: ifMatch,
		})
		return err
	})
	committed = err == nil
	return created, err
}

// s3Upload is one multipart upload's parts in flight.
type s3Upload struct {
	s    *S3
	ctx  context.Context // the Put's
	bufs *s3PartBufs
	key  string
	id   *string
	// partCtx is the parts' requests': the Put's ctx does not cut them
	// off, stop does, but for those the store may be acting on.
	partCtx     context.Context
	cancelParts context.CancelFunc
	sem         chan struct{} // a slot per part in flight
	wg          sync.WaitGroup
	end         sync.Once // completed or aborted

	mu      sync.Mutex
	stopped chan struct{}                      // closed by stop: no more parts
	sending map[*s3PartBody]context.CancelFunc // the parts in flight
	parts   []types.CompletedPart              // by part number once wait returns
	err     error                              // the first failure
}

// send uploads part num, buf[:n], in the background once a slot is free,
// and hands buf back to the pool when it is sent. An error means the
// upload already failed: buf went back, and the error is the first.
func (u *s3Upload) send(num int32, buf *[]byte, n int) error {
	select {
	case u.sem <- struct{}{}:
	case <-u.stopped:
	case <-u.ctx.Done():
	}
	u.mu.Lock()
	if err := u.failureLocked(); err != nil {
		u.mu.Unlock()
		u.bufs.put(buf)
		return err
	}
	// Registered under mu, so that stop sees every part started, and
	// abort's wait every one stop let go on.
	body := &s3PartBody{r: bytes.NewReader((*buf)[:n])}
	ctx, cancel := context.WithCancel(u.partCtx)
	u.sending[body] = cancel
	u.wg.Add(1)
	u.mu.Unlock()
	go func() {
		defer u.wg.Done()
		defer func() { <-u.sem }()
		defer func() {
			u.mu.Lock()
			delete(u.sending, body)
			u.mu.Unlock()
			cancel()
		}()
		out, err := u.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &u.s.bucket, Key: &u.key, UploadId: u.id, PartNumber: aws.Int32(num),
			Body: body, ContentLength: aws.Int64(int64(n)),
		}, body.track)
		if err != nil {
			// buf is not reused: after a failed request the transport
			// may still be reading it.
			u.fail(s3Error("upload part", u.key, err))
			return
		}
		u.bufs.put(buf)
		u.mu.Lock()
		u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		u.mu.Unlock()
	}()
	return nil
}

// fail records the upload's first error and stops its other parts. A
// part that fails once the upload is stopped fails because of the stop,
// whose cause is the error.
func (u *s3Upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.stopped:
		return
	default:
	}
	u.err = err
	u.stopLocked()
}

// stop starts no more parts and cuts off those the store may still drop
// (see s3PartBody); the others are let finish.
func (u *s3Upload) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopLocked()
}

func (u *s3Upload) stopLocked() {
	select {
	case <-u.stopped:
		return
	default:
	}
	close(u.stopped)
	for body, cancel := range u.sending {
		if body.stop() {
			cancel()
		}
	}
}

// failure is the upload's first error, or the context's once cancelled.
func (u *s3Upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.failureLocked()
}

func (u *s3Upload) failureLocked() error {
	if u.err == nil && u.ctx.Err() != nil {
		u.err = s3Error("upload part", u.key, u.ctx.Err())
	}
	if u.err == nil {
		select {
		case <-u.stopped:
			// Only abort stops without a cause, and then Put is over.
			u.err = fmt.Errorf("s3 put %s: upload aborted", u.key)
		default:
		}
	}
	return u.err
}

// wait waits for the parts in flight and returns them in order.
func (u *s3Upload) wait() ([]types.CompletedPart, error) {
	u.wg.Wait()
	if err := u.failure(); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	return u.parts, nil
}

// abort stops the parts in flight and drops the upload, once, on a
// context of its own: the request's is often the reason for the abort.
func (u *s3Upload) abort() {
	u.end.Do(func() {
		defer u.s.uploads.Done()
		defer u.cancelParts()
		u.stop()
		// The abort waits until the store is done with every part: one it
		// stores after the abort brings the upload back (versitygw makes
		// the upload's directory again to store it, which left uploads
		// behind a cancelled Put and Close on a loaded machine). A store
		// that does not answer within s3SettleTimeout has its parts cut
		// off too, and may keep the upload until Cleanup.
		if !s3WaitFor(&u.wg, s3SettleTimeout) {
			u.cancelParts()
			u.wg.Wait()
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), s3AbortTimeout)
		defer cancel()
		u.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: &u.s.bucket, Key: &u.key, UploadId: u.id,
		})
	})
}

// s3WaitFor waits for wg at most d, and reports whether it is done.
func s3WaitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// s3PartBody is the body of one part in flight, which stop cuts off only
// while the store is sure to drop the part. A part cut short of its
// length fails the store's length or payload hash check; one sent in
// full is stored whatever becomes of its request, even after the client
// has gone (versitygw does), so it is let finish.
type s3PartBody struct {
	mu sync.Mutex
	r  *bytes.Reader
	// sending: the transport reads the body now. The SDK reads it once
	// before, to hash it, which sends nothing.
	sending bool
	// unsure: an attempt was sent in full and had no answer, so the store
	// may still store it while the SDK tries again.
	unsure bool
	cut    bool
}

var errS3PartCut = errors.New("part cut off")

func (b *s3PartBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return 0, errS3PartCut
	}
	return b.r.Read(p)
}

// Seek lets the SDK hash the body and rewind it for another attempt.
func (b *s3PartBody) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return 0, errS3PartCut
	}
	return b.r.Seek(offset, whence)
}

// stop cuts the body off unless the store may have it in full, and
// reports whether it did.
func (b *s3PartBody) stop() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unsure || b.sending && b.r.Len() == 0 {
		return false
	}
	b.cut = true
	return true
}

// track is the option of the part's UploadPart that puts the body in
// the request's stack, right before the transport.
func (b *s3PartBody) track(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Deserialize.Add(b, middleware.After)
	})
}

func (b *s3PartBody) ID() string { return "httpboxPartBody" }

// HandleDeserialize wraps each attempt's send: it tells the transport's
// reads of the body from the SDK's, and notes an attempt sent in full
// that had no answer.
func (b *s3PartBody) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	b.mu.Lock()
	b.sending = true
	b.mu.Unlock()
	out, md, err := next.HandleDeserialize(ctx, in)
	// Without an answer the SDK gives a response of status 0.
	resp, _ := out.RawResponse.(*smithyhttp.Response)
	answered := resp != nil && resp.Response != nil && resp.StatusCode != 0
	b.mu.Lock()
	b.unsure = b.unsure || !answered && b.r.Len() == 0
	b.sending = false
	b.mu.Unlock()
	return out, md, err
}

// s3Settle is the context of a request the store acts on once it has it,
// whatever becomes of the request: cut off, it would leave what the
// store did unknown. A ctx already cancelled sends nothing; one
// cancelled later cuts the request off s3SettleTimeout after, which only
// a store that does not answer sees.
func s3Settle(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() != nil {
		return ctx, func() {}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(s3SettleTimeout)
		defer t.Stop()
		select {
		case <-sctx.Done():
		case <-t.C:
			cancel()
		}
	})
	return sctx, func() {
		stop()
		cancel()
	}
}

// commit makes a write (write sends it with the conditional headers it is
// given) under this instance's lock of key. It looks at what key holds,
// checks cond, and writes on condition that key still holds that:
// If-None-Match: * when it held nothing, If-Match its ETag otherwise.
// A store that honours them catches another instance's write in between
// (412), and commit looks again; one that ignores them is still right
// within this instance, thanks to the lock. created is whether key held
// nothing.
func (s *S3) commit(ctx context.Context, key string, cond Cond, write func(ifNoneMatch, ifMatch *string) error) (created bool, err error) {
	defer s.locks.lock(key)()
	for range s3CommitAttempts {
		cur, _, exists, err := s.head(ctx, key)
		if err != nil {
			return false, err
		}
		if err := s3CheckCond("put", key, cond, cur, exists); err != nil {
			return false, err
		}
		var ifNoneMatch, ifMatch *string
		if exists {
			ifMatch = aws.String(cur.ETag)
		} else {
			ifNoneMatch = aws.String("*")
		}
		err = s3Error("put", key, write(ifNoneMatch, ifMatch))
		if !errors.Is(err, ErrPrecondition) {
			return !exists && err == nil, err
		}
	}
	return false, fmt.Errorf("s3 put %s: %w: changed by another writer %d times in a row", key, ErrPrecondition, s3CommitAttempts)
}

// s3CheckCond checks cond against what key holds.
func s3CheckCond(op, key string, cond Cond, cur Info, exists bool) error {
	if exists && cond.IfAbsent {
		return fmt.Errorf("s3 %s %s: %w", op, key, ErrExist)
	}
	if cond.Holds != nil && !cond.Holds(cur, exists) {
		return fmt.Errorf("s3 %s %s: %w", op, key, ErrPrecondition)
	}
	return nil
}
