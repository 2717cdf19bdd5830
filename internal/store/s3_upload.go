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
)

// maxS3Parts is the most parts S3 takes in one multipart upload.
const maxS3Parts = 10000

// s3CommitAttempts bounds how often a commit looks again when another
// writer changed the name between its look and its write.
const s3CommitAttempts = 3

// Put implements Backend. A body that fits in one part is sent with one
// PutObject; a longer one streams as a multipart upload, at most
// Concurrency parts in flight, and is aborted on any failure, so a cut
// off upload leaves no object and no parts.
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

	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return false, s3Error("start upload", key, err)
	}
	up := &s3Upload{s: s, bufs: bufs, key: key, id: out.UploadId, sem: make(chan struct{}, s.concurrency)}
	up.ctx, up.cancel = context.WithCancel(ctx)
	s.uploads.Add(1)
	committed := false
	// Deferred, so that a panic (in body.Read, say) aborts as well.
	defer func() {
		if committed {
			up.end.Do(s.uploads.Done)
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
		_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
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
	s      *S3
	bufs   *s3PartBufs
	key    string
	id     *string
	ctx    context.Context // cancelled when a part fails
	cancel context.CancelFunc
	sem    chan struct{} // a slot per part in flight
	wg     sync.WaitGroup
	end    sync.Once // completed or aborted

	mu    sync.Mutex
	parts []types.CompletedPart // by part number once wait returns
	err   error                 // the first failure
}

// send uploads part num, buf[:n], in the background once a slot is free,
// and hands buf back to the pool when it is sent. An error means the
// upload already failed: buf went back, and the error is the first.
func (u *s3Upload) send(num int32, buf *[]byte, n int) error {
	select {
	case u.sem <- struct{}{}:
	case <-u.ctx.Done():
	}
	if err := u.failure(); err != nil {
		u.bufs.put(buf)
		return err
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() { <-u.sem }()
		out, err := u.s.client.UploadPart(u.ctx, &s3.UploadPartInput{
			Bucket: &u.s.bucket, Key: &u.key, UploadId: u.id, PartNumber: aws.Int32(num),
			Body: bytes.NewReader((*buf)[:n]), ContentLength: aws.Int64(int64(n)),
		})
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

// fail records the upload's first error and stops its other parts.
func (u *s3Upload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel()
}

// failure is the upload's first error, or the context's once cancelled.
func (u *s3Upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil && u.ctx.Err() != nil {
		u.err = s3Error("upload part", u.key, u.ctx.Err())
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
		u.cancel()
		u.wg.Wait()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), s3AbortTimeout)
		defer cancel()
		// A part the store was still receiving when the client gave up
		// on it may land after the abort and bring the upload back (S3's
		// documentation says to abort again; versitygw does it too, seen
		// once in CI as an upload left behind by a cancelled Put). So the
		// abort is repeated until the upload is gone, a few times.
		for try := range s3AbortTries {
			if try > 0 {
				time.Sleep(s3AbortRetryDelay)
			}
			u.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &u.s.bucket, Key: &u.key, UploadId: u.id,
			})
			_, err := u.s.client.ListParts(ctx, &s3.ListPartsInput{
				Bucket: &u.s.bucket, Key: &u.key, UploadId: u.id, MaxParts: aws.Int32(1),
			})
			if errors.Is(s3Kind(err), ErrNotExist) || ctx.Err() != nil {
				return
			}
		}
	})
}

const (
	s3AbortTries      = 3
	s3AbortRetryDelay = 200 * time.Millisecond
)

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
