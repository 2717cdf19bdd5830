package store

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrBadConfig: the storage cannot be used as configured (a bad URL, a
// missing bucket, keys the store refuses). NewS3 reports it so that main
// can exit 2, as for any bad flag; an endpoint that cannot be reached is
// ErrUnavailable instead (exit 1), since waiting may cure it.
var ErrBadConfig = errors.New("bad storage configuration")

// s3Error is the one place where an error of the AWS SDK becomes one of
// the store's sentinels; the SDK's own text stays in the message for the
// log. op and key say what failed.
func s3Error(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("s3 %s %s: %w: %v", op, key, s3Kind(err), err)
}

// s3Kind classifies err. A cancelled context stays context.Canceled: the
// caller gave up, the store did nothing wrong.
func s3Kind(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return ErrNotExist
		case "PreconditionFailed", "ConditionalRequestConflict":
			return ErrPrecondition
		case "SlowDown", "ServiceUnavailable", "Throttling", "ThrottlingException",
			"RequestLimitExceeded", "TooManyRequests":
			return ErrUnavailable
		case "RequestTimeout":
			return ErrTimeout
		case "KeyTooLongError":
			return ErrBadName
		// The store refuses the size, or is full: either way it cannot
		// hold the file, which WebDAV calls 507 Insufficient Storage.
		// The body limit itself is checked before the store is asked.
		case "EntityTooLarge", "QuotaExceeded", "InsufficientStorage":
			return ErrNoSpace
		// A store that keeps objects as files (versitygw's posix backend)
		// cannot hold "a" and "a/b" at once and says so.
		case "ObjectParentIsFile":
			return ErrNotDir
		case "ExistingObjectIsDirectory":
			return ErrIsDir
		}
	}

	switch code := s3HTTPStatus(err); {
	case code == 0: // no answer: see below
	case code == 404:
		return ErrNotExist
	case code == 412:
		return ErrPrecondition
	case code == 429 || code == 503:
		return ErrUnavailable
	case code == 504:
		return ErrTimeout
	default:
		// 403 included: at run time refused keys are the store's fault
		// as far as a client of ours can tell (NewS3 reports them as
		// ErrBadConfig at start).
		return ErrUpstream
	}

	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ErrTimeout
	}
	var quota ratelimit.QuotaExceededError
	var sendErr *smithyhttp.RequestSendError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	// The SDK stops retrying when its retry budget is spent, which only
	// happens while the store keeps failing.
	case errors.As(err, &quota), errors.As(err, &sendErr),
		errors.As(err, &opErr), errors.As(err, &dnsErr):
		return ErrUnavailable
	}
	return ErrUpstream
}

// s3HTTPStatus is the status of the store's answer in err, 0 when there
// was none (the SDK reports a failed send as a response of status 0).
func s3HTTPStatus(err error) int {
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode()
	}
	return 0
}
