// Command s3presign prints a presigned, path-style S3 URL for one object,
// so that bench/run can send the very same request straight to the store
// with wrk or bombardier, which cannot sign requests themselves.
//
//	s3presign [-method GET|HEAD|PUT|DELETE] [-expires 1h] -bucket B -key K
//	s3presign -create-bucket -bucket B
//
// The endpoint, region and keys come from -endpoint, -region, -access and
// -secret, or else from AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL),
// AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; no AWS config or
// credentials file is read.
//
// The URL signs the Host header and nothing else: a presigned PUT signs
// its payload as UNSIGNED-PAYLOAD and no Content-Length, so it can be
// replayed with any body, any number of times, until it expires. A request
// whose signature would cover another header is refused, since the bench
// clients send only the URL.
//
// -create-bucket creates the bucket (one that already exists and is ours
// is fine) and prints nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// maxExpires is the longest validity SigV4 allows a presigned URL.
const maxExpires = 7 * 24 * time.Hour

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "s3presign:", err)
		os.Exit(1)
	}
}

func env(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func run(args []string) error {
	fs := flag.NewFlagSet("s3presign", flag.ContinueOnError)
	endpoint := fs.String("endpoint", env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"), "store `URL`, e.g. http://127.0.0.1:7070")
	region := fs.String("region", env("AWS_REGION", "AWS_DEFAULT_REGION"), "region (default us-east-1)")
	access := fs.String("access", env("AWS_ACCESS_KEY_ID"), "access key ID")
	secret := fs.String("secret", env("AWS_SECRET_ACCESS_KEY"), "secret access key")
	bucket := fs.String("bucket", "", "bucket")
	key := fs.String("key", "", "object key")
	method := fs.String("method", "GET", "GET, HEAD, PUT or DELETE")
	expires := fs.Duration("expires", time.Hour, "how long the URL is valid (at most 168h)")
	create := fs.Bool("create-bucket", false, "create -bucket and exit")
	timeout := fs.Duration("timeout", 10*time.Second, "time limit of -create-bucket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *endpoint == "":
		return errors.New("no endpoint: -endpoint or AWS_ENDPOINT_URL_S3")
	case *access == "" || *secret == "":
		return errors.New("no keys: -access and -secret, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case *bucket == "":
		return errors.New("-bucket is required")
	case !*create && *key == "":
		return errors.New("-key is required")
	case *expires <= 0 || *expires > maxExpires:
		return fmt.Errorf("-expires %v: from 1s to %v", *expires, maxExpires)
	}
	if *region == "" {
		*region = "us-east-1"
	}
	client := s3.NewFromConfig(aws.Config{
		Region:      *region,
		Credentials: credentials.NewStaticCredentialsProvider(*access, *secret, ""),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(*endpoint)
		o.UsePathStyle = true
	})

	if *create {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("create bucket %s: %w", *bucket, err)
		}
		return nil
	}

	ctx := context.Background() // presigning is local: no request is sent
	pc := s3.NewPresignClient(client, s3.WithPresignExpires(*expires))
	var req *v4.PresignedHTTPRequest
	var err error
	switch strings.ToUpper(*method) {
	case http.MethodGet:
		req, err = pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
	case http.MethodHead:
		req, err = pc.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
	case http.MethodPut:
		req, err = pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key})
	case http.MethodDelete:
		req, err = pc.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key})
	default:
		return fmt.Errorf("-method %q: want GET, HEAD, PUT or DELETE", *method)
	}
	if err != nil {
		return fmt.Errorf("presign %s %s/%s: %w", *method, *bucket, *key, err)
	}
	for name := range req.SignedHeader {
		if !strings.EqualFold(name, "Host") {
			return fmt.Errorf("presign %s %s/%s: the signature covers header %s, which the bench clients do not send",
				*method, *bucket, *key, name)
		}
	}
	fmt.Println(req.URL)
	return nil
}
