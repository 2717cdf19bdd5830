package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testPair is a self-signed certificate the test makes, with its files.
type testPair struct {
	certFile, keyFile string
	der               []byte // the certificate, DER
	pool              *x509.CertPool
}

// makePair writes a self-signed ECDSA P-256 certificate for 127.0.0.1 and
// localhost, and its key, as name.crt and name.key in dir.
func makePair(t *testing.T, dir, name string) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "httpbox test " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root, so curl --cacert takes it
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPair{certFile: filepath.Join(dir, name+".crt"), keyFile: filepath.Join(dir, name+".key"), der: der, pool: x509.NewCertPool()}
	writePEM(t, p.certFile, "CERTIFICATE", der)
	writePEM(t, p.keyFile, "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p.pool.AddCert(cert)
	return p
}

func writePEM(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var tlsStartLine = regexp.MustCompile(`listening on https://([^\s,]+)(?:, https://\S+)* serving `)

// startTLSBinary runs httpbox on 127.0.0.1 with a free port and the given
// flags, and waits for its start-up line, which must name an https://
// address. startBinary wants http://, so this is its TLS twin.
func startTLSBinary(t *testing.T, root string, args ...string) *serverProc {
	t.Helper()
	return startTLSBinaryCmd(t, root, nil, args...)
}

// startTLSBinaryCmd is startTLSBinary with a hook to adjust the command
// before it starts.
func startTLSBinaryCmd(t *testing.T, root string, adjust func(*exec.Cmd), args ...string) *serverProc {
	t.Helper()
	return startServer(t, root, adjust, tlsStartLine, args...)
}

// dialTLS connects to p trusting pool, and returns the connection and the
// leaf certificate the server showed.
func dialTLS(t *testing.T, p *serverProc, pool *x509.CertPool) (*tls.Conn, []byte) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", p.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if got := c.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Errorf("ALPN: got %q, want http/1.1", got)
	}
	return c, c.ConnectionState().PeerCertificates[0].Raw
}

// getOver sends GET target on c (keep-alive) and returns status and body.
func getOver(t *testing.T, c net.Conn, br *bufio.Reader, target string) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestTLSCurl: curl trusting the test's certificate gets answers over
// HTTPS; TLS 1.1 is refused.
func TestTLSCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	root := t.TempDir()
	writeTree(t, root, "a.txt", []byte("over tls"))
	// A file the cache holds open (see store.Cache), twice: the first GET
	// opens it, the second is sent from the held file.
	mid := strings.Repeat("0123456789", 4000)
	writeTree(t, root, "mid.txt", []byte(mid))
	pair := makePair(t, t.TempDir(), "a")
	p := startTLSBinary(t, root, "--tls-cert", pair.certFile, "--tls-key", pair.keyFile)
	_, port, _ := net.SplitHostPort(p.addr)
	for _, tt := range []struct{ url, want string }{
		{"https://127.0.0.1:" + port + "/echo/hi", "hi"},
		{"https://localhost:" + port + "/files/a.txt", "over tls"},
		{"https://localhost:" + port + "/files/mid.txt", mid},
		{"https://localhost:" + port + "/files/mid.txt", mid},
	} {
		out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "--cacert", pair.certFile, "--resolve", "localhost:"+port+":127.0.0.1", tt.url).CombinedOutput()
		if err != nil || string(out) != tt.want {
			t.Errorf("curl %s: %v, %q; want %q", tt.url, err, out, tt.want)
		}
	}
	_, err := tls.Dial("tcp", p.addr, &tls.Config{RootCAs: pair.pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Error("a TLS 1.1 handshake succeeded, want it refused")
	}
}

// TestTLSReload: SIGHUP swaps the pair for new connections while an open
// one carries on with its own; a bad pair at reload keeps the one in use
// and says why.
func TestTLSReload(t *testing.T) {
	root := t.TempDir()
	dir := t.TempDir()
	a, b := makePair(t, dir, "a"), makePair(t, dir, "b")
	certFile, keyFile := filepath.Join(dir, "live.crt"), filepath.Join(dir, "live.key")
	install := func(cert, key string) {
		t.Helper()
		for _, f := range [][2]string{{cert, certFile}, {key, keyFile}} {
			data, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(a.certFile, a.keyFile)
	both := x509.NewCertPool()
	both.AppendCertsFromPEM(mustRead(t, a.certFile))
	both.AppendCertsFromPEM(mustRead(t, b.certFile))
	p := startTLSBinary(t, root, "--tls-cert", certFile, "--tls-key", keyFile)

	old, leaf := dialTLS(t, p, both)
	if !bytes.Equal(leaf, a.der) {
		t.Fatal("first connection: not certificate a")
	}
	oldBR := bufio.NewReader(old)
	if status, body := getOver(t, old, oldBR, "/echo/before"); status != 200 || body != "before" {
		t.Fatalf("before reload: %d %q", status, body)
	}

	install(b.certFile, b.keyFile)
	p.signal(t, syscall.SIGHUP)
	if !pollUntil(10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "certificate reloaded") }) {
		t.Fatalf("no reload logged:\n%s", p.stderr)
	}
	_, leaf = dialTLS(t, p, both)
	if !bytes.Equal(leaf, b.der) {
		t.Error("after reload: new connection did not get certificate b")
	}
	if status, body := getOver(t, old, oldBR, "/echo/after"); status != 200 || body != "after" {
		t.Errorf("open connection after reload: %d %q", status, body)
	}
	if !bytes.Equal(old.ConnectionState().PeerCertificates[0].Raw, a.der) {
		t.Error("open connection changed certificate")
	}

	// A mismatched pair: b's certificate, a's key.
	install(b.certFile, a.keyFile)
	p.signal(t, syscall.SIGHUP)
	if !pollUntil(10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "keeping the certificate in use") }) {
		t.Fatalf("bad pair at reload not logged:\n%s", p.stderr)
	}
	_, leaf = dialTLS(t, p, both)
	if !bytes.Equal(leaf, b.der) || !p.isRunning() {
		t.Error("after a bad reload: want certificate b still served")
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTLSBadPair: a mismatched, malformed, unreadable or half-given pair
// exits 2 with a one-line reason, before listening.
func TestTLSBadPair(t *testing.T) {
	dir := t.TempDir()
	a, b := makePair(t, dir, "a"), makePair(t, dir, "b")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"mismatched", []string{"--tls-cert", a.certFile, "--tls-key", b.keyFile}},
		{"malformed cert", []string{"--tls-cert", garbage, "--tls-key", a.keyFile}},
		{"malformed key", []string{"--tls-cert", a.certFile, "--tls-key", garbage}},
		{"missing file", []string{"--tls-cert", filepath.Join(dir, "nope.crt"), "--tls-key", a.keyFile}},
		{"cert alone", []string{"--tls-cert", a.certFile}},
		{"key alone", []string{"--tls-key", a.keyFile}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--directory", dir, "--host", "127.0.0.1", "--port", "0"}, tt.args...)
			code, _, stderr := runBinary(t, nil, args...)
			if code != 2 || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "listening") {
				t.Errorf("exit %d, stderr %q; want 2 and one line", code, stderr)
			}
		})
	}
}

// TestTLSWriteProgress: on HTTPS, where fasthttp writes through
// tls.Conn.Write (no sendfile, no ReadFrom), --write-timeout still bounds
// a stall, not a transfer: a slow but steady download of 8 MiB with
// --write-timeout 1s completes, and a client that stops reading is cut
// off.
func TestTLSWriteProgress(t *testing.T) {
	root := t.TempDir()
	const size = 8 << 20
	want := pattern(7, size)
	writeTree(t, root, "eight", want)
	pair := makePair(t, t.TempDir(), "a")
	p := startTLSBinary(t, root, "--write-timeout", "1s", "--tls-cert", pair.certFile, "--tls-key", pair.keyFile)

	t.Run("slow steady download completes", func(t *testing.T) {
		raw, err := smallRcvBufDialer(64<<10).Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{RootCAs: pair.pool, ServerName: "127.0.0.1"})
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := io.WriteString(c, "GET /files/eight HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /files/eight: %v %v", resp, err)
		}
		t.Logf("slow HTTPS download took %v", readSlowly(t, c, resp.Body, want))
	})

	t.Run("stalled client is cut off", func(t *testing.T) {
		raw, err := smallRcvBufDialer(32<<10).Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{RootCAs: pair.pool, ServerName: "127.0.0.1"})
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := io.WriteString(c, "GET /files/eight HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if _, err := br.Peek(1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // stalled: four write timeouts
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := io.Copy(io.Discard, br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after a 4s stall (read %d bytes, then timed out)", n)
		}
		if n >= size {
			t.Fatalf("stalled client still received all %d bytes", n)
		}
		assertHealthyTLS(t, p, pair.pool)
	})
}

// assertHealthyTLS checks that p still answers over HTTPS.
func assertHealthyTLS(t *testing.T, p *serverProc, pool *x509.CertPool) {
	t.Helper()
	c, _ := dialTLS(t, p, pool)
	if status, body := getOver(t, c, bufio.NewReader(c), "/healthz"); status != 200 || body != "ok" {
		t.Fatalf("GET /healthz over TLS: %d %q", status, body)
	}
}

// TestTLSSocketActivation: a socket systemd passes in serves HTTPS, and
// the start-up line says so.
func TestTLSSocketActivation(t *testing.T) {
	pair := makePair(t, t.TempDir(), "a")
	f, passed := passedSocket(t)
	p := startTLSBinaryCmd(t, t.TempDir(), func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
		cmd.Env = append(cmd.Env, "LISTEN_FDS=1")
		cmd.ExtraFiles = []*os.File{f} // fd 3, as systemd passes it
	}, "--tls-cert", pair.certFile, "--tls-key", pair.keyFile)
	f.Close()
	if p.addr != passed {
		t.Fatalf("start-up line names https://%s, the passed socket is %s", p.addr, passed)
	}
	assertHealthyTLS(t, p, pair.pool)
}

// TestTLSLingeringClose: a PUT refused before its body is read (413)
// over TLS ends in our lingering close, as it does without TLS: the
// connection under tls.Conn is ours, so its socket drains what the
// client still sends before it closes (seen in the lingering gauge),
// instead of resetting the connection.
func TestTLSLingeringClose(t *testing.T) {
	pair := makePair(t, t.TempDir(), "a")
	p := startTLSBinary(t, t.TempDir(), "--max-body-size", "1KiB", "--metrics-listen", "127.0.0.1:0", "--tls-cert", pair.certFile, "--tls-key", pair.keyFile)
	c, _ := dialTLS(t, p, pair.pool)
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	_, _ = io.WriteString(c, "PUT /files/big HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n")
	_, _ = c.Write(make([]byte, 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodPut})
	if err != nil {
		t.Fatalf("no answer over TLS: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 413 {
		t.Fatalf("got %d (%v), want a whole 413", resp.StatusCode, err)
	}
	addr := metricsAddr(t, p)
	var lingering float64
	if !pollUntil(5*time.Second, func() bool {
		lingering = metricValue(scrape(t, addr), "httpbox_lingering_connections")
		return lingering == 1
	}) {
		t.Fatalf("lingering connections: got %v, want 1 (the refused TLS connection)", lingering)
	}
}

// TestTLSRequestLineTooLongIs414: over TLS, as without, a request line
// longer than the head limit gets 414 and headers over it 431: the line
// feeds are counted in what the client sent, not in the TLS records.
func TestTLSRequestLineTooLongIs414(t *testing.T) {
	pair := makePair(t, t.TempDir(), "a")
	p := startTLSBinary(t, t.TempDir(), "--tls-cert", pair.certFile, "--tls-key", pair.keyFile)
	long := "/echo/" + strings.Repeat("a", 20000)
	for _, tt := range []struct {
		name, req string
		want      int
	}{
		{"line", "GET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n", 431},
	} {
		c, _ := dialTLS(t, p, pair.pool)
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		go func() { _, _ = io.WriteString(c, tt.req) }()
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

// TestTLSShutdownWithOnlyAFreshConn: a TLS connection that has made its
// handshake and sent no request does not hold up the shutdown: it waits
// for a request, as a fresh plain connection does.
func TestTLSShutdownWithOnlyAFreshConn(t *testing.T) {
	pair := makePair(t, t.TempDir(), "a")
	p := startTLSBinary(t, t.TempDir(), "-q", "--shutdown-timeout", "10s", "--tls-cert", pair.certFile, "--tls-key", pair.keyFile)
	fresh, _ := dialTLS(t, p, pair.pool)
	assertHealthyTLS(t, p, pair.pool)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 15*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the shutdown took %v, want at once", took.Round(time.Millisecond))
	}
	if code != 0 {
		t.Errorf("exit code %d, want 0; stderr:\n%s", code, p.stderr)
	}
	_ = fresh.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := fresh.Read(make([]byte, 1)); err == nil {
		t.Error("the fresh TLS connection still reads after the process exited")
	}
}
