package store

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Dead properties live in the user metadata of their object (a
// directory's: of its marker), under one key, as base64 of deflated
// JSON. They travel with the object through CopyObject, and any S3 tool
// sees them as x-amz-meta-httpbox-props.
const s3PropsMetaKey = "httpbox-props"

// maxS3Meta is S3's limit on an object's user metadata, keys and values
// together. Properties beyond it are refused with ErrNoSpace, which
// WebDAV answers with 507 Insufficient Storage, as a full disk.
const maxS3Meta = 2 << 10

// s3StoredProp is a Prop as stored: short field names, for the 2 KiB.
type s3StoredProp struct {
	Space string `json:"s,omitempty"`
	Local string `json:"l"`
	Lang  string `json:"g,omitempty"`
	Inner string `json:"x,omitempty"`
}

// s3PropsHolder is the object that holds name's properties.
type s3PropsHolder struct {
	key    string               // the object, or the directory's marker
	head   *s3.HeadObjectOutput // nil when a directory has no marker yet
	marker bool
}

// holder finds where name's properties are: ErrNotExist when name is
// neither a file nor a directory.
func (s *S3) holder(ctx context.Context, op, name string) (s3PropsHolder, error) {
	if name != "." {
		_, head, ok, err := s.head(ctx, s.key(name))
		if err != nil {
			return s3PropsHolder{}, err
		}
		if ok {
			return s3PropsHolder{key: s.key(name), head: head}, nil
		}
		if _, ok, err := s.statDir(ctx, name); err != nil {
			return s3PropsHolder{}, err
		} else if !ok {
			return s3PropsHolder{}, fmt.Errorf("s3 %s %s: %w", op, s.key(name), ErrNotExist)
		}
	}
	marker := s.dirPrefix(name)
	if marker == "" {
		return s3PropsHolder{}, fmt.Errorf("s3 %s: %w: the root of a bucket without a prefix holds no properties", op, ErrConflict)
	}
	_, head, _, err := s.head(ctx, marker)
	return s3PropsHolder{key: marker, head: head, marker: true}, err
}

// Props implements Backend.
func (s *S3) Props(ctx context.Context, name string) ([]Prop, error) {
	if s.dirPrefix(name) == "" {
		return nil, nil // the root of a bucket without a prefix: no marker
	}
	h, err := s.holder(ctx, "props", name)
	if err != nil {
		return nil, err
	}
	if h.head == nil {
		return nil, nil
	}
	return s3DecodeProps(h.key, h.head.Metadata[s3PropsMetaKey])
}

// PatchProps implements Backend: the object is copied onto itself with
// new metadata, on condition that it did not change meanwhile. An object
// over 5 GiB cannot be copied onto itself in one request, so its
// properties cannot change (ErrUpstream from the store).
func (s *S3) PatchProps(ctx context.Context, name string, set []Prop, remove []xml.Name) error {
	defer s.locks.lock(s.key(name))()
	for range s3CommitAttempts {
		h, err := s.holder(ctx, "proppatch", name)
		if err != nil {
			return err
		}
		meta := map[string]string{}
		var props []Prop
		if h.head != nil {
			maps.Copy(meta, h.head.Metadata)
			if props, err = s3DecodeProps(h.key, meta[s3PropsMetaKey]); err != nil {
				return err
			}
		}
		props = patchProps(props, set, remove)
		delete(meta, s3PropsMetaKey)
		if len(props) > 0 {
			if meta[s3PropsMetaKey], err = s3EncodeProps(props); err != nil {
				return fmt.Errorf("s3 proppatch %s: %w: %v", h.key, ErrUpstream, err)
			}
		}
		total := 0
		for k, v := range meta {
			total += len(k) + len(v)
		}
		if total > maxS3Meta {
			return fmt.Errorf("s3 proppatch %s: %w: properties over the %d bytes of S3 metadata", h.key, ErrNoSpace, maxS3Meta)
		}

		if h.marker {
			in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &h.key, Body: strings.NewReader(""),
				ContentLength: aws.Int64(0), Metadata: meta, IfNoneMatch: aws.String("*")}
			if h.head != nil {
				in.IfNoneMatch, in.IfMatch = nil, h.head.ETag
			}
			_, err = s.client.PutObject(ctx, in)
		} else {
			_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{
				Bucket: &s.bucket, Key: &h.key, CopySource: aws.String(s.copySource(h.key)),
				CopySourceIfMatch: h.head.ETag,
				MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta,
				ContentType: h.head.ContentType, CacheControl: h.head.CacheControl,
				ContentDisposition: h.head.ContentDisposition, ContentEncoding: h.head.ContentEncoding,
				ContentLanguage: h.head.ContentLanguage, Expires: h.head.Expires,
			})
		}
		if err = s3Error("proppatch", h.key, err); !errors.Is(err, ErrPrecondition) {
			return err
		}
	}
	return fmt.Errorf("s3 proppatch %s: %w: changed by another writer %d times in a row", s.key(name), ErrPrecondition, s3CommitAttempts)
}

func s3EncodeProps(props []Prop) (string, error) {
	stored := make([]s3StoredProp, len(props))
	for i, p := range props {
		stored[i] = s3StoredProp{Space: p.Name.Space, Local: p.Name.Local, Lang: p.Lang, Inner: string(p.InnerXML)}
	}
	js, err := json.Marshal(stored)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	zw.Write(js)
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(buf.Bytes()), nil
}

// s3DecodeProps reads what s3EncodeProps wrote; "" holds no properties.
func s3DecodeProps(key, v string) ([]Prop, error) {
	if v == "" {
		return nil, nil
	}
	z, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("s3 props %s: %w: %v", key, ErrUpstream, err)
	}
	js, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 1<<20))
	if err != nil {
		return nil, fmt.Errorf("s3 props %s: %w: %v", key, ErrUpstream, err)
	}
	var stored []s3StoredProp
	if err := json.Unmarshal(js, &stored); err != nil {
		return nil, fmt.Errorf("s3 props %s: %w: %v", key, ErrUpstream, err)
	}
	props := make([]Prop, len(stored))
	for i, p := range stored {
		props[i] = Prop{Name: xml.Name{Space: p.Space, Local: p.Local}, Lang: p.Lang, InnerXML: []byte(p.Inner)}
	}
	return props, nil
}
