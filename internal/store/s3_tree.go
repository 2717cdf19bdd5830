package store

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Mkdir implements Backend: it writes the marker "name/".
func (s *S3) Mkdir(ctx context.Context, name string) error {
	key := s.key(name)
	if name == "." {
		return fmt.Errorf("s3 mkdir %s: %w", key, ErrExist)
	}
	if len(key)+1 > maxS3Key {
		return fmt.Errorf("s3 mkdir %s: %w: key longer than %d bytes", key, ErrBadName, maxS3Key)
	}
	if _, ok, err := s.stat(ctx, name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("s3 mkdir %s: %w", key, ErrExist)
	}
	if err := s.checkParentDir(ctx, "mkdir", name); err != nil {
		return err
	}
	marker := key + "/"
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &marker, Body: strings.NewReader(""),
		ContentLength: aws.Int64(0), IfNoneMatch: aws.String("*"),
	})
	if err = s3Error("mkdir", marker, err); errors.Is(err, ErrPrecondition) {
		return fmt.Errorf("s3 mkdir %s: %w", key, ErrExist)
	}
	return err
}

// stat is Stat with "not found" as ok == false rather than an error.
func (s *S3) stat(ctx context.Context, name string) (Info, bool, error) {
	info, err := s.Stat(ctx, name)
	if errors.Is(err, ErrNotExist) {
		return Info{}, false, nil
	}
	return info, err == nil, err
}

// checkParentDir requires name's parent to be an existing directory:
// ErrNotDir when it is a file, ErrNotExist when it is missing.
func (s *S3) checkParentDir(ctx context.Context, op, name string) error {
	parent := path.Dir(name)
	if parent == "." {
		return nil
	}
	info, ok, err := s.stat(ctx, parent)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("s3 %s %s: parent: %w", op, s.key(name), ErrNotExist)
	case !info.IsDir:
		return fmt.Errorf("s3 %s %s: %w", op, s.key(name), ErrNotDir)
	}
	return nil
}

// checkNoFileAbove refuses (ErrNotDir) a name under an object: "a/b"
// when "a" is a file. Put creates the missing directories, so no parent
// has to exist.
func (s *S3) checkNoFileAbove(ctx context.Context, op, name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		_, _, ok, err := s.head(ctx, s.key(name[:i]))
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("s3 %s %s: %s: %w", op, s.key(name), name[:i], ErrNotDir)
		}
	}
	return nil
}

// Delete implements Backend. Conditions are checked on a HEAD under a
// lock of this instance; S3 offers no conditional delete that every store
// honours, so another instance may slip a write in between.
func (s *S3) Delete(ctx context.Context, name string, recursive bool, cond Cond) error {
	key := s.key(name)
	if name == "." {
		return fmt.Errorf("s3 delete %s: %w: the root", key, ErrConflict)
	}
	defer s.locks.lock(key)()
	info, _, ok, err := s.head(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		if info, ok, err = s.statDir(ctx, name); err != nil {
			return err
		}
	}
	switch {
	case !ok:
		return fmt.Errorf("s3 delete %s: %w", key, ErrNotExist)
	case cond.IfAbsent:
		return fmt.Errorf("s3 delete %s: %w", key, ErrExist)
	case cond.Holds != nil && !cond.Holds(info, true):
		return fmt.Errorf("s3 delete %s: %w", key, ErrPrecondition)
	case !info.IsDir:
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
		return s3Error("delete", key, err)
	case recursive:
		return s.deleteTree(ctx, s.dirPrefix(name))
	}
	marker := s.dirPrefix(name)
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: &marker, MaxKeys: aws.Int32(2),
	})
	if err != nil {
		return s3Error("list", marker, err)
	}
	for _, o := range out.Contents {
		if aws.ToString(o.Key) != marker {
			return fmt.Errorf("s3 delete %s: %w", key, ErrNotEmpty)
		}
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &marker})
	return s3Error("delete", marker, err)
}

// deleteTree deletes every key under prefix, 1000 a request (the most
// DeleteObjects takes). Directory markers go last, deepest first: a store
// that keeps them as real directories cannot remove one that still holds
// files.
func (s *S3) deleteTree(ctx context.Context, prefix string) error {
	var markers []string
	batch := make([]types.ObjectIdentifier, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return s3Error("delete", prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("s3 delete %s: %w: %d keys failed, first %s: %s %s",
				prefix, ErrUpstream, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		batch = batch[:0]
		return nil
	}
	err := s.walk(ctx, prefix, func(o types.Object) error {
		k := aws.ToString(o.Key)
		if strings.HasSuffix(k, "/") {
			markers = append(markers, k)
			return nil
		}
		batch = append(batch, types.ObjectIdentifier{Key: o.Key})
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	for i := len(markers) - 1; i >= 0; i-- { // listed in key order: children after parents
		batch = append(batch, types.ObjectIdentifier{Key: aws.String(markers[i])})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// walk calls fn for every object under prefix, in key order.
func (s *S3) walk(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s3Error("list", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}
