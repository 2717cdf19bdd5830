package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CopyObject copies at most 5 GiB; larger objects are copied in parts of
// s3CopyPartSize (S3 takes 5 MiB to 5 GiB a part).
const (
	maxS3CopyObject int64 = 5 << 30
	s3CopyPartSize  int64 = 512 << 20
)

// Move implements Backend. S3 has no rename: the objects are copied, then
// the source deleted, so a move that fails midway can leave both, or a
// part of a directory at each place; it never loses the source's data.
func (s *S3) Move(ctx context.Context, src, dst string, overwrite bool) (bool, error) {
	return s.transfer(ctx, "move", src, dst, overwrite, true, true)
}

// Copy implements Backend, with the same caveat as Move about failures
// midway.
func (s *S3) Copy(ctx context.Context, src, dst string, overwrite, recursive bool) (bool, error) {
	return s.transfer(ctx, "copy", src, dst, overwrite, recursive, false)
}

func (s *S3) transfer(ctx context.Context, op, src, dst string, overwrite, recursive, move bool) (created bool, err error) {
	// Onto an ancestor, the delete of what dst holds would take src
	// with it.
	if src == "." || dst == "." || src == dst || strings.HasPrefix(src, dst+"/") {
		return false, fmt.Errorf("s3 %s %s to %s: %w", op, s.key(src), s.key(dst), ErrConflict)
	}
	info, ok, err := s.stat(ctx, src)
	switch {
	case err != nil:
		return false, err
	case !ok:
		return false, fmt.Errorf("s3 %s %s: %w", op, s.key(src), ErrNotExist)
	case info.IsDir && strings.HasPrefix(dst, src+"/"):
		return false, fmt.Errorf("s3 %s %s into itself: %w", op, s.key(src), ErrConflict)
	}
	if err := s.checkParentDir(ctx, op, dst); err != nil {
		return false, err
	}
	_, exists, err := s.stat(ctx, dst)
	if err != nil {
		return false, err
	}
	if exists {
		if !overwrite {
			return false, fmt.Errorf("s3 %s %s: %w", op, s.key(dst), ErrExist)
		}
		if err := s.Delete(ctx, dst, true, Cond{}); err != nil {
			return false, err
		}
	}

	if !info.IsDir {
		if err := s.copyObject(ctx, s.key(src), s.key(dst), info.Size); err != nil {
			return false, err
		}
		if move {
			key := s.key(src)
			_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
			return !exists, s3Error(op, key, err)
		}
		return !exists, nil
	}
	if err := s.copyTree(ctx, src, dst, recursive); err != nil {
		return false, err
	}
	if move {
		return !exists, s.deleteTree(ctx, s.dirPrefix(src))
	}
	return !exists, nil
}

// copyTree copies the directory src to dst: its marker, and with
// recursive everything under it. dst gets a marker even when src has
// none, so that it exists while empty.
func (s *S3) copyTree(ctx context.Context, src, dst string, recursive bool) error {
	sp, dp := s.dirPrefix(src), s.dirPrefix(dst)
	if !recursive {
		return s.copyMarker(ctx, sp, dp)
	}
	marked := false
	err := s.walk(ctx, sp, func(o types.Object) error {
		k := aws.ToString(o.Key)
		to := dp + k[len(sp):]
		if strings.HasSuffix(k, "/") {
			marked = marked || k == sp
			return s.copyMarker(ctx, k, to)
		}
		return s.copyObject(ctx, k, to, aws.ToInt64(o.Size))
	})
	if err != nil || marked {
		return err
	}
	return s.copyMarker(ctx, sp, dp)
}

// copyMarker writes the marker dst with the metadata (properties) of the
// marker src, or none when src has no marker. Markers are written afresh
// rather than copied: a store that keeps them as real directories
// (versitygw) refuses CopyObject on them.
func (s *S3) copyMarker(ctx context.Context, src, dst string) error {
	_, out, _, err := s.head(ctx, src)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &dst, Body: strings.NewReader(""), ContentLength: aws.Int64(0)}
	if out != nil {
		in.Metadata = out.Metadata
	}
	_, err = s.client.PutObject(ctx, in)
	return s3Error("copy", dst, err)
}

// copyObject copies one object with its metadata (properties included).
func (s *S3) copyObject(ctx context.Context, src, dst string, size int64) error {
	if size > maxS3CopyObject {
		return s.copyLarge(ctx, src, dst, size)
	}
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &s.bucket, Key: &dst, CopySource: aws.String(s.copySource(src)),
		MetadataDirective: types.MetadataDirectiveCopy,
	})
	return s3Error("copy", src+" to "+dst, err)
}

// copyLarge copies an object over 5 GiB in parts, on condition that the
// source stays the same throughout.
func (s *S3) copyLarge(ctx context.Context, src, dst string, size int64) (err error) {
	info, head, ok, err := s.head(ctx, src)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("s3 copy %s: %w", src, ErrNotExist)
	}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: &dst, Metadata: head.Metadata, ContentType: head.ContentType,
		CacheControl: head.CacheControl, ContentDisposition: head.ContentDisposition,
		ContentEncoding: head.ContentEncoding, ContentLanguage: head.ContentLanguage,
	})
	if err != nil {
		return s3Error("copy", dst, err)
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s3AbortTimeout)
			defer cancel()
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &dst, UploadId: out.UploadId})
		}
	}()
	part := max(s3CopyPartSize, (size+maxS3Parts-1)/maxS3Parts)
	var parts []types.CompletedPart
	for num, start := int32(1), int64(0); start < size; num, start = num+1, start+part {
		end := min(start+part, size) - 1
		res, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &s.bucket, Key: &dst, UploadId: out.UploadId, PartNumber: aws.Int32(num),
			CopySource:        aws.String(s.copySource(src)),
			CopySourceRange:   aws.String("bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)),
			CopySourceIfMatch: aws.String(info.ETag),
		})
		if err != nil {
			return s3Error("copy", src+" to "+dst, err)
		}
		parts = append(parts, types.CompletedPart{ETag: res.CopyPartResult.ETag, PartNumber: aws.Int32(num)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &dst, UploadId: out.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return s3Error("copy", dst, err)
}

// copySource is the x-amz-copy-source of key: "bucket/key", percent-
// encoded but for the slashes. Escaping all but the unreserved bytes
// keeps '+' from being read as a space by a lenient store.
func (s *S3) copySource(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(s.bucket)
	b.WriteByte('/')
	for _, c := range []byte(key) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
