// Package s3test runs a real S3 server (versitygw with its posix backend)
// on the loopback interface for tests, so that the S3 backend is tested
// against the protocol rather than against a mock of it.
//
// It is an ordinary package, not a _test file, so that the store tests and
// the tests of package main can both start a server.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Fixed test keys: the server only listens on 127.0.0.1 and lives as long
// as one test.
const (
	accessKey = "httpbox-test-access"
	secretKey = "httpbox-test-secret-0123456789"
	region    = "us-east-1"
)

// How long versitygw may take to answer after it was started, and to exit
// after SIGTERM, before the test gives up on it.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	bindAttempts = 5
)

// Server is one running versitygw. Its fields are fixed for its life:
// Restart keeps the port, the keys and the data.
type Server struct {
	Endpoint  string // "http://127.0.0.1:PORT"
	AccessKey string
	SecretKey string
	Region    string

	tb      testing.TB
	bin     string
	addr    string // 127.0.0.1:PORT
	dataDir string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

var bucketSeq atomic.Int64

// Start starts versitygw on a free loopback port and a fresh data
// directory, waits until it answers, and stops it when the test ends.
// Without the binary the test is skipped, or fails when env CI is set, so
// that CI can never pass by skipping.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("s3test: %v", err)
		}
		tb.Skipf("s3test: %v (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", err)
	}
	dir := tb.TempDir()
	s := &Server{
		AccessKey: accessKey,
		SecretKey: secretKey,
		Region:    region,
		tb:        tb,
		bin:       bin,
		dataDir:   filepath.Join(dir, "data"),
		logPath:   filepath.Join(dir, "versitygw.log"),
	}
	for _, d := range []string{s.dataDir, s.sidecarDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatalf("s3test: %v", err)
		}
	}
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			s.logOutput()
		}
	})

	// The port is free when we look and may be taken by the time
	// versitygw binds it, so a failed start is retried on another port.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("s3test: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.Endpoint = "http://" + s.addr
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == bindAttempts {
			s.logOutput()
			tb.Fatalf("s3test: versitygw did not start: %v", err)
		}
	}
}

// findBinary looks for versitygw in PATH, then where go install puts it.
func findBinary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
				gopath = string(trimSpace(out))
			}
		}
		if gopath != "" {
			gobin = filepath.Join(filepath.SplitList(gopath)[0], "bin")
		}
	}
	if gobin != "" {
		p := filepath.Join(gobin, "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found in PATH or GOPATH/bin")
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// sidecarDir keeps object metadata in plain files rather than extended
// attributes, which tmpfs and some CI file systems refuse. versitygw
// compares the two as strings, so the name must not start with dataDir's.
func (s *Server) sidecarDir() string { return filepath.Join(filepath.Dir(s.dataDir), "meta") }

// start runs versitygw on s.addr and waits until it answers HTTP.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "--- start on %s at %s\n", s.addr, time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command(s.bin,
		"--port", s.addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--quiet",
		// Not --keep-alive: every request on a fresh connection, so an
		// idle connection the server dropped never fails a test.
		// bench/run keeps connections, as real stores do.
		"posix", "--sidecar", s.sidecarDir(), s.dataDir)
	// A clean environment: no VGW_* or ROOT_* settings from the host
	// change what the server does.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(s.dataDir)}
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			return fmt.Errorf("versitygw exited: %v", cmd.ProcessState)
		default:
		}
		// Any HTTP answer (403 for an anonymous request) means it serves.
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stopLocked()
	return fmt.Errorf("no answer on %s within %v", s.addr, startTimeout)
}

// Stop stops the server (SIGTERM, then SIGKILL if it lingers), by the PID
// of the process Start started and nothing else. It keeps the data, so
// Restart can bring the same store back. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Restart starts a stopped server again on the same port, keys and data.
// The port may linger for a moment after Stop, so binding is retried.
func (s *Server) Restart() {
	s.tb.Helper()
	var err error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.logOutput()
	s.tb.Fatalf("s3test: restart on %s: %v", s.addr, err)
}

func (s *Server) logOutput() {
	b, err := os.ReadFile(s.logPath)
	if err != nil || len(b) == 0 {
		return
	}
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	s.tb.Logf("versitygw output (%s):\n%s", s.logPath, b)
}

// Env is the environment that points the AWS SDK (and the aws CLI) at this
// server and nowhere else: the host's config and credential files and the
// EC2 metadata service are never consulted.
func (s *Server) Env() []string {
	none := filepath.Join(filepath.Dir(s.dataDir), "no-such-aws-file")
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + none,
		"AWS_SHARED_CREDENTIALS_FILE=" + none,
	}
}

// SetEnv sets Env's variables for the rest of the test (t.Setenv: not for
// parallel tests) and clears those that would point elsewhere.
func (s *Server) SetEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	for _, kv := range s.Env() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				t.Setenv(kv[:i], kv[i+1:])
				break
			}
		}
	}
}

// Config is an aws.Config for this server built without reading the
// environment or any file, so parallel tests need not touch env.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		// A stopped server should fail a test fast, not after backoff.
		RetryMaxAttempts: 2,
	}
}

// Client is an S3 client for this server, for tests that look behind the
// backend (leftover multipart uploads, raw keys).
func (s *Server) Client() *s3.Client {
	return s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true })
}

// NewBucket creates a bucket with a name no other test uses and returns
// the name.
func (s *Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("httpbox-test-%d-%d", os.Getpid()%100000, bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return name
}
