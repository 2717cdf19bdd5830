package main

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// certificate is the server's TLS certificate pair, behind an atomic
// pointer so that SIGHUP can replace it while connections are served: a
// handshake reads the pair current at that moment, so new connections get
// the new one and open ones carry on with theirs.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the PEM pair. An unreadable or malformed file, or
// a key that does not match the certificate, is an error.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload re-reads both files; on failure the pair in use stays.
func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&pair)
	return nil
}

// config is the TLS configuration of the public listeners: TLS 1.2 or
// later, and ALPN http/1.1 only, since fasthttp speaks no HTTP/2 (a client
// offering h2 must not be told we do).
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.current.Load(), nil },
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
	}
}

// connOf returns the connection under ctx, TLS or not, or false for one
// that is not ours (in-memory tests).
func connOf(ctx *fasthttp.RequestCtx) (*conn, bool) {
	switch c := ctx.Conn().(type) {
	case *conn:
		return c, true
	case *tlsConn:
		return c.under, true
	}
	return nil, false
}
