package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// List implements Backend, one page of the store's listing at a time.
//
// S3 lists keys in byte order, and a directory "a" comes as the key "a/":
// after the files "a-1" and "a.txt", whose names sort after "a". Entries
// wait in a small sorted buffer until no key still to come can sort before
// them, so fn sees names in byte order. A name that is both a file and a
// directory (possible on S3, not on disk) is listed as the directory.
func (s *S3) List(ctx context.Context, dir string, fn func(Info) error) error {
	prefix := s.dirPrefix(dir)
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: &prefix, Delimiter: aws.String("/"),
	}, func(o *s3.ListObjectsV2PaginatorOptions) { o.StopOnDuplicateToken = true })

	var held s3ListBuffer
	found := dir == "."
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s3Error("list", prefix, err)
		}
		// Files and directories come in two sorted lists; merge them
		// back into the store's key order.
		files, dirs := page.Contents, page.CommonPrefixes
		for len(files) > 0 || len(dirs) > 0 {
			var rel string
			var info Info
			if len(dirs) == 0 || len(files) > 0 && aws.ToString(files[0].Key) < aws.ToString(dirs[0].Prefix) {
				o := files[0]
				files = files[1:]
				rel = strings.TrimPrefix(aws.ToString(o.Key), prefix)
				info = Info{Name: rel, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified), ETag: aws.ToString(o.ETag)}
			} else {
				rel = strings.TrimPrefix(aws.ToString(dirs[0].Prefix), prefix)
				dirs = dirs[1:]
				info = Info{Name: strings.TrimSuffix(rel, "/"), IsDir: true}
			}
			found = true
			if rel == "" {
				continue // the directory's own marker
			}
			// Names no request could reach ("a//b", "..", a backslash)
			// are not entries.
			if s3ValidSegment(info.Name) {
				held.add(info)
			}
			if err := held.release(rel, fn); err != nil {
				return err
			}
		}
	}
	if err := held.release("", fn); err != nil {
		return err
	}
	if found {
		return nil
	}
	if _, _, isFile, err := s.head(ctx, s.key(dir)); err != nil {
		return err
	} else if isFile {
		return fmt.Errorf("s3 list %s: %w", s.key(dir), ErrNotDir)
	}
	return fmt.Errorf("s3 list %s: %w", s.key(dir), ErrNotExist)
}

// s3ListBuffer holds listed entries, sorted by name, until they can go.
type s3ListBuffer []Info

// add inserts info in name order; a directory wins over a file of the
// same name.
func (b *s3ListBuffer) add(info Info) {
	i, dup := slices.BinarySearchFunc(*b, info.Name, func(e Info, name string) int {
		return strings.Compare(e.Name, name)
	})
	switch {
	case !dup:
		*b = slices.Insert(*b, i, info)
	case info.IsDir:
		(*b)[i] = info
	}
}

// release passes to fn, in order, the entries that no key after key can
// precede; key "" means the listing is over and all may go.
func (b *s3ListBuffer) release(key string, fn func(Info) error) error {
	for len(*b) > 0 {
		e := (*b)[0]
		if key != "" && key < s3ReleaseKey(e.Name) {
			return nil
		}
		*b = (*b)[1:]
		if err := fn(e); err != nil {
			return err
		}
	}
	*b = nil // let the buffer's array go rather than creep forward
	return nil
}

// s3ReleaseKey is the key the listing must have reached before name can be
// passed on. The only entries that sort before name yet come later are
// directories named by a prefix of it that is followed by a byte below
// '/' ("a" for "a.txt", listed as "a/"), or named name itself; the
// shortest such prefix comes last.
func s3ReleaseKey(name string) string {
	i := strings.IndexFunc(name, func(r rune) bool { return r < '/' })
	if i < 0 {
		i = len(name)
	}
	return name[:i] + "/"
}
