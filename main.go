// Command httpbox is a small, fast HTTP/1.1 service: it echoes strings,
// reports the caller's User-Agent, and stores and serves files under one root
// directory. The behaviour is specified in CONTRACT.md; the README shows it
// in use.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/httpbox/httpbox/internal/store"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/pflag"
	"github.com/valyala/fasthttp"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

const (
	defaultHost = "localhost" // loopback unless the operator opts in to exposure
	defaultPort = 4221
	// Large enough for disk images and backups, small enough that a stray
	// upload cannot fill a disk unnoticed.
	defaultMaxBodySize = "1GiB"
	// Far beyond any disk or object, and far enough from the int64 limit
	// that byte counts near it cannot overflow.
	maxBodySizeLimit = 1 << 50
	// Long enough for a slow mobile client to send its headers, short enough
	// that a slowloris holds a connection for half a minute at most.
	defaultReadTimeout  = 30 * time.Second
	defaultWriteTimeout = 30 * time.Second
	// Keep-alive connections cost a file descriptor and a little memory each;
	// a minute covers a browser's or curl's reuse of a connection.
	defaultIdleTimeout = 60 * time.Second
	// Below systemd's default TimeoutStopSec (90s), so systemd never has to
	// SIGKILL a server that is draining on its own.
	defaultShutdownTimeout = 30 * time.Second
	// The largest request head we accept: the contract's 16 KiB of headers,
	// plus room for a short request line.
	maxHeaderBytes = 16<<10 + 512
	tokenEnv       = "HTTPBOX_TOKEN"
	// S3 multipart uploads: one upload holds part size × concurrency in
	// memory. 8 MiB parts reach 80 GiB within S3's 10,000 parts.
	defaultS3PartSize    = "8MiB"
	defaultS3Concurrency = 2
	maxS3Concurrency     = 64
)

// main only maps run's error to an exit code, so that every defer in run
// happens before os.Exit.
func main() {
	os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)))
}

// usageError marks a mistake of the caller (bad flag, bad root, bad token):
// exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps run's result to the contract's exit status: 0 clean, 2 bad
// usage, 1 anything else.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp), errors.Is(err, errVersionPrinted):
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

var errVersionPrinted = errors.New("version printed")

// config is everything the command line and environment decide.
type config struct {
	root            string
	host            string
	port            int
	maxBodySize     int64
	readOnly        bool
	token           string
	readTimeout     time.Duration
	writeTimeout    time.Duration
	idleTimeout     time.Duration
	shutdownTimeout time.Duration
	quiet           bool
	log             logStyle
	// private: reads of the tree (/files/, /dav/) need the token too.
	private    bool
	noListings bool
	noWebDAV   bool
	// storage is an s3:// URL, or "" for the directory root.
	storage       string
	s3PartSize    int64
	s3Concurrency int
	// metricsListen is where /metrics is served, or "" for nowhere.
	metricsListen string
	// tlsCert and tlsKey name the PEM pair for HTTPS, or are both "".
	tlsCert, tlsKey string
}

// parseFlags reads the command line and the environment (through
// lookupEnv) into a config. Help and version are printed to out and
// reported as pflag.ErrHelp and errVersionPrinted; every other failure is a
// usageError.
func parseFlags(args []string, lookupEnv func(string) (string, bool), out io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("httpbox", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVarP(&cfg.root, "directory", "d", "", "root `DIR` of /files (default: the working directory)")
	fs.StringVar(&cfg.host, "host", defaultHost, "`HOST` to listen on: 0.0.0.0, ::, an IP or a name")
	cfg.port = defaultPort
	fs.VarP((*portValue)(&cfg.port), "port", "p", "TCP `PORT`; 0 picks a free one")
	maxBody := fs.String("max-body-size", defaultMaxBodySize, "largest accepted request body: a `SIZE` in bytes, or with KiB/MiB/GiB (1024) or KB/MB/GB (1000)")
	fs.BoolVar(&cfg.readOnly, "read-only", false, "refuse every write (POST, PUT, DELETE and WebDAV's) with 403")
	fs.BoolVar(&cfg.private, "private", false, "reads (GET, HEAD, listings, PROPFIND) need the token too")
	tokenFile := fs.String("token-file", "", "writes (and, with --private, reads) need this token, as 'Bearer <token>' or a Basic password; read from `FILE` (or $"+tokenEnv+")")
	fs.DurationVar(&cfg.readTimeout, "read-timeout", defaultReadTimeout, "time for the request line and headers, and the longest pause between two reads of a body")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", defaultWriteTimeout, "the longest a response may make no progress")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", defaultIdleTimeout, "how long a keep-alive connection may wait for its next request")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long SIGTERM/SIGINT waits for in-flight requests")
	fs.BoolVarP(&cfg.quiet, "quiet", "q", false, "no access log")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "serve HTTPS with the certificate (chain) in PEM `FILE`; SIGHUP re-reads it")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "the private key of --tls-cert, in PEM `FILE`")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on `ADDR` (host:port), a listener of its own (default: off)")
	logFormat := fs.String("log-format", "text", "`FORMAT` of the log: text, or json (one object a line)")
	fs.BoolVar(&cfg.noListings, "no-listings", false, "directories get 404 instead of a listing")
	fs.BoolVar(&cfg.noWebDAV, "no-webdav", false, "no WebDAV: /dav/ gets 404")
	fs.StringVar(&cfg.storage, "storage", "", "where files live, a `URL`: a directory, or s3://BUCKET[/PREFIX] (default: --directory)")
	partSize := fs.String("s3-part-size", defaultS3PartSize, "`SIZE` of the parts of S3 multipart uploads (at least 5MiB)")
	fs.IntVar(&cfg.s3Concurrency, "s3-concurrency", defaultS3Concurrency, "`N` parts of one S3 upload in flight at once")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.BoolP("help", "h", false, "show this help and exit")
	// pflag would print the whole usage after every mistake; the contract
	// wants a one-line reason, which run prints.
	fs.Usage = func() {}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return cfg, err
		}
		return cfg, usagef("%v (see httpbox --help)", err)
	}
	if help, _ := fs.GetBool("help"); help {
		fmt.Fprintf(out, "Usage: httpbox [flags]\n\nA small, fast HTTP/1.1 server: echo, user-agent and files under one root.\n\nFlags:\n%s", plainBooleans(fs.FlagUsages()))
		return cfg, pflag.ErrHelp
	}
	if *showVersion {
		fmt.Fprintln(out, versionLine())
		return cfg, errVersionPrinted
	}
	if fs.NArg() > 0 {
		return cfg, usagef("unexpected argument %q (files are served from --directory)", fs.Arg(0))
	}
	size, err := parseSize(*maxBody)
	if err == nil && size > maxBodySizeLimit {
		err = fmt.Errorf("at most %d bytes (1024 TiB)", int64(maxBodySizeLimit))
	}
	if err != nil {
		return cfg, usagef("invalid --max-body-size %q: %v", *maxBody, err)
	}
	cfg.maxBodySize = size
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-timeout", cfg.readTimeout}, {"write-timeout", cfg.writeTimeout}, {"idle-timeout", cfg.idleTimeout}, {"shutdown-timeout", cfg.shutdownTimeout}} {
		if d.v <= 0 {
			return cfg, usagef("invalid --%s %v: must be positive", d.name, d.v)
		}
	}
	switch *logFormat {
	case "text":
	case "json":
		cfg.log.json = true
	default:
		return cfg, usagef("invalid --log-format %q: want text or json", *logFormat)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, usagef("--tls-cert and --tls-key go together: give both or neither")
	}
	if fs.Changed("metrics-listen") {
		if _, _, err := net.SplitHostPort(cfg.metricsListen); err != nil {
			return cfg, usagef("invalid --metrics-listen %q: want HOST:PORT", cfg.metricsListen)
		}
	}
	if fs.Changed("token-file") && *tokenFile == "" {
		return cfg, usagef("invalid --token-file: empty file name")
	}
	env, envSet := lookupEnv(tokenEnv)
	if cfg.token, err = readToken(*tokenFile, env, envSet); err != nil {
		return cfg, usageError{err}
	}
	if cfg.private && cfg.token == "" {
		return cfg, usagef("--private needs a token (--token-file or $%s)", tokenEnv)
	}
	if cfg.s3PartSize, err = parseSize(*partSize); err == nil && cfg.s3PartSize < store.MinS3PartSize {
		err = errors.New("at least 5MiB, the smallest part S3 accepts")
	}
	if err != nil {
		return cfg, usagef("invalid --s3-part-size %q: %v", *partSize, err)
	}
	if cfg.s3Concurrency < 1 || cfg.s3Concurrency > maxS3Concurrency {
		return cfg, usagef("invalid --s3-concurrency %d: from 1 to %d", cfg.s3Concurrency, maxS3Concurrency)
	}
	if fs.Changed("storage") && fs.Changed("directory") {
		return cfg, usagef("--storage and --directory both name where files live: give one")
	}
	if strings.HasPrefix(cfg.storage, "s3://") {
		return cfg, nil // checked when the bucket is reached
	}
	if cfg.storage != "" {
		cfg.root, cfg.storage = cfg.storage, ""
	}
	if cfg.root == "" {
		cfg.root = "."
	}
	if cfg.root, err = filepath.Abs(cfg.root); err != nil {
		return cfg, usagef("invalid --directory: %v", err)
	}
	fi, err := os.Stat(cfg.root)
	if err != nil {
		return cfg, usagef("invalid --directory: %v", err)
	}
	if !fi.IsDir() {
		return cfg, usagef("invalid --directory %s: not a directory", cfg.root)
	}
	return cfg, nil
}

// plainBooleans takes pflag's "[=true|false]" off the boolean flags of
// a usage text: they are switches, given or not. The padding keeps the
// descriptions aligned.
func plainBooleans(usage string) string {
	const optional = "[=true|false]"
	return strings.ReplaceAll(usage, optional, strings.Repeat(" ", len(optional)))
}

// portValue is a TCP port written in decimal. pflag's int flags take Go
// literals, so "010" would be port 8 and "0x50" port 80.
type portValue int

func (p *portValue) String() string { return strconv.Itoa(int(*p)) }
func (p *portValue) Type() string   { return "int" }

func (p *portValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || s[0] == '+' {
		return errors.New("want a decimal number from 0 to 65535")
	}
	*p = portValue(n)
	return nil
}

// readToken returns the write token: the file's content wins over the
// environment variable; both are trimmed of surrounding whitespace, because
// `echo secret > file` leaves a newline. A variable that is set but empty
// is an error (an unset one means no token), so that a typo never leaves
// writes open.
func readToken(file, env string, envSet bool) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("invalid --token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("invalid --token-file %s: empty token", file)
		}
		return tok, nil
	case envSet:
		tok := strings.TrimSpace(env)
		if tok == "" {
			return "", fmt.Errorf("invalid $%s: empty token", tokenEnv)
		}
		return tok, nil
	}
	return "", nil
}

// parseSize reads a byte count: plain digits, or a KiB/MiB/GiB (1024-based)
// or KB/MB/GB (1000-based) suffix. The suffix is case-sensitive, as the
// contract spells it, so that "1mb" is an error rather than a guess.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, errors.New("want a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<63-1)/mult {
		return 0, errors.New("too large")
	}
	if n == 0 {
		return 0, errors.New("must be more than 0")
	}
	return n * mult, nil
}

func versionLine() string {
	return fmt.Sprintf("httpbox %s (%s, %s)", version, commit, date)
}

// run starts the server and blocks until it is shut down by a signal or
// ctx. Errors of the caller's making are usageErrors; a shutdown that had
// to cut requests off returns errShutdownCut.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Signals are handled from before anything says "listening", so that a
	// SIGTERM at any moment after the start-up line is a clean shutdown.
	// SIGHUP, SIGUSR1 and SIGUSR2 never stop the server. SIGPIPE is
	// ignored: once stderr's reader is gone, a log write fails (and its
	// lines are counted as dropped) instead of killing the process.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, handledSignals...)
	defer signal.Stop(signals)
	signal.Ignore(syscall.SIGPIPE)

	cfg, err := parseFlags(args, os.LookupEnv, stdout)
	if err != nil {
		if ue := (usageError{}); errors.As(err, &ue) {
			fmt.Fprintf(stderr, "httpbox: %v\n", err)
		}
		return err
	}

	backend, serving, err := openBackend(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "httpbox: %v\n", err)
		return err
	}
	defer backend.Close()

	var cert *certificate
	if cfg.tlsCert != "" {
		if cert, err = loadCertificate(cfg.tlsCert, cfg.tlsKey); err != nil {
			err = usageError{err}
			fmt.Fprintf(stderr, "httpbox: %v\n", err)
			return err
		}
	}

	lns, err := listen(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "httpbox: %v\n", err)
		return err
	}

	// The journal stamps every line it receives; systemd says in
	// JOURNAL_STREAM which stream is it.
	if f, ok := stderr.(*os.File); ok && isJournal(os.Getenv("JOURNAL_STREAM"), f) {
		cfg.log.untimed = true
	}
	logger := newStyledLog(stderr, cfg.quiet, cfg.log)
	defer logger.Close()
	conns := newConnSet(len(lns), lingerLimit())

	var metricsLn net.Listener
	if cfg.metricsListen != "" {
		if metricsLn, err = listenMetrics(cfg.metricsListen, lns); err != nil {
			fmt.Fprintf(stderr, "httpbox: %v\n", err)
			return err
		}
		defer metricsLn.Close()
		kind := "dir"
		if cfg.storage != "" {
			kind = "s3"
		}
		logger.metrics = newServerMetrics(kind, conns)
	}
	srv := newServer(cfg, backend, logger)

	scheme := "http://"
	var tlsConfig *tls.Config
	if cert != nil {
		scheme, tlsConfig = "https://", cert.config()
	}
	addrs := make([]string, len(lns))
	for i, ln := range lns {
		addrs[i] = scheme + ln.Addr().String()
		lns[i] = &listener{Listener: ln, timeouts: newTimeouts(cfg.readTimeout, cfg.idleTimeout, cfg.writeTimeout), log: logger, conns: conns, tls: tlsConfig}
	}
	metricsAt := ""
	if metricsLn != nil {
		metricsAt = ", metrics on http://" + metricsLn.Addr().String()
	}
	fmt.Fprintf(stderr, "httpbox %s listening on %s serving %s%s\n", version, strings.Join(addrs, ", "), serving, metricsAt)

	serveErr := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	if metricsLn != nil {
		// A scrape in progress at shutdown is cut off: the listener's
		// deferred Close ends this Serve, and the process exits.
		go func() { _ = metricsServer(logger.metrics, logger).Serve(metricsLn) }()
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	// Start-up must not wait for the size or depth of the tree: what a
	// killed process left (temporary files, unfinished multipart uploads)
	// is removed in the background.
	go func() {
		if n := backend.Cleanup(logger.Printf); n > 0 {
			logger.Printf("removed %d leftover(s) of interrupted uploads", n)
		}
	}()

	if err := waitForStop(ctx, signals, serveErr, logger, cert); err != nil {
		fmt.Fprintf(stderr, "httpbox: serve: %v\n", err)
		return fmt.Errorf("serve: %w", err)
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)

	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.ShutdownWithContext(shutdownCtx) }()
	// fasthttp closes keep-alive connections between requests, but counts
	// a new one idle only 5 s after it opens: a client that connected and
	// sent nothing would hold the shutdown until it times out. Once the
	// listeners are closed, every connection waiting for a request is
	// closed, then again every 100 ms (a keep-alive connection waits once
	// its request ends) until the shutdown ends.
	shutdownOver := make(chan struct{})
	defer close(shutdownOver)
	go conns.closeWaitingUntil(shutdownOver)
	for {
		select {
		case err := <-shutdown:
			if err == nil {
				return nil
			}
			fmt.Fprintf(stderr, "httpbox: shutdown: requests still running after %v were cut off\n", cfg.shutdownTimeout)
		case sig := <-signals:
			if !stopsServer(sig) {
				logger.Printf("%v received while shutting down: ignored", sig)
				continue
			}
			fmt.Fprintf(stderr, "httpbox: %v received again: requests still running were cut off\n", sig)
		}
		// The uploads still running are abandoned, so a cut-off upload
		// leaves nothing behind; the deferred Close of the log writes the
		// lines of every request that finished.
		backend.Close()
		return errShutdownCut
	}
}

// waitForStop blocks until a signal or ctx asks the server to stop (nil),
// or serving fails (its error). SIGHUP re-reads the certificate pair when
// there is one (cert); other signals are logged and change nothing.
func waitForStop(ctx context.Context, signals <-chan os.Signal, serveErr <-chan error, logger *accessLog, cert *certificate) error {
	for {
		select {
		case err := <-serveErr:
			return err
		case <-ctx.Done():
			return nil
		case sig := <-signals:
			switch {
			case stopsServer(sig):
				// One line, so that the log says why the server stopped.
				logger.Printf("%v received: shutting down", sig)
				return nil
			case sig == reloadSignal && cert != nil:
				if err := cert.reload(); err != nil {
					logger.Printf("%v received: keeping the certificate in use: %v", sig, err)
				} else {
					logger.Printf("%v received: certificate reloaded from %s", sig, cert.certFile)
				}
			default:
				logger.Printf("%v received: ignored (nothing to reload)", sig)
			}
		}
	}
}

// stopsServer reports whether sig asks for a shutdown (SIGTERM, SIGINT).
func stopsServer(sig os.Signal) bool {
	return sig == os.Interrupt || sig == syscall.SIGTERM
}

var errShutdownCut = errors.New("shutdown timed out")

// listen returns the sockets systemd passed us (socket activation: every
// one of them, say one for IPv4 and one for IPv6), or binds --host and
// --port. Binding before serving makes a busy port fail at once.
func listen(cfg config) ([]net.Listener, error) {
	passed, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	var lns []net.Listener
	for _, ln := range passed {
		if ln != nil {
			lns = append(lns, ln)
		}
	}
	if len(lns) > 0 {
		return lns, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return []net.Listener{ln}, nil
}

// listenMetrics binds --metrics-listen. The public port is refused even
// where the kernel would allow both (one on a wildcard address, one on a
// specific one): metrics are never served to the public.
func listenMetrics(addr string, public []net.Listener) (net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for _, ln := range public {
		if _, p, _ := net.SplitHostPort(ln.Addr().String()); p == port && port != "0" {
			return nil, usagef("invalid --metrics-listen %s: the public port; metrics need a port of their own", addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	return ln, nil
}

// cachedDir wraps dir in the cache, holding as many files open as the
// descriptor limit allows it.
func cachedDir(dir *store.Dir) *store.Cache {
	cache := store.NewCache(dir)
	cache.MaxOpen = cachedFileLimit()
	return cache
}

// openBackend opens where files live, and says what it is for the
// start-up line. A directory is wrapped in a cache; a bucket is not, since
// other instances write to it (see store.Cache). A bad URL, a missing
// bucket or refused keys are a usage error (exit 2); a store that cannot
// be reached is not (exit 1).
func openBackend(ctx context.Context, cfg config) (store.Backend, string, error) {
	if cfg.storage == "" {
		dir, err := store.NewDir(cfg.root)
		if err != nil {
			return nil, "", usagef("invalid --directory: %v", err)
		}
		return cachedDir(dir), cfg.root, nil
	}
	s3, err := store.NewS3(ctx, cfg.storage, store.S3Options{PartSize: cfg.s3PartSize, Concurrency: cfg.s3Concurrency})
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return nil, "", fmt.Errorf("--storage %s: %w", cfg.storage, err)
	case err != nil:
		return nil, "", usagef("invalid --storage %s: %v", cfg.storage, err)
	}
	return s3, cfg.storage, nil
}

// newServer builds the fasthttp server with the contract's limits.
func newServer(cfg config, backend store.Backend, logger *accessLog) *fasthttp.Server {
	h := newHandler(cfg, backend, logger)
	serve := fasthttp.RequestHandler(h.serve)
	if logger.metrics != nil {
		serve = logger.metrics.countUploads(serve)
	}
	return &fasthttp.Server{
		Handler:       serve,
		ErrorHandler:  h.requestError,
		ExpectHandler: h.expect,
		// No ReadTimeout, WriteTimeout or IdleTimeout: each conn enforces
		// the timeouts, more cheaply than fasthttp would (see timeouts).
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: writeBufferSize,
		HeaderReceived:  headerReceived,
		// The handlers read the clock only when they need it; fasthttp
		// would read it for every request.
		LazyRequestTime:              true,
		StreamRequestBody:            true, // uploads of any size in flat memory
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		// fasthttp's messages quote request heads; accessLog redacts them
		// as well (see its Printf).
		SecureErrorLogMessage: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		Concurrency:           connectionLimit(),
		// Idle keep-alive connections give back their write buffer: with
		// 10,000 idle connections this saves 40 MB (171 MB -> 130 MB).
		// Their read buffer stays, because fasthttp keeps it whenever
		// StreamRequestBody is on, and streaming is what keeps uploads flat.
		ReduceMemoryUsage: true,
		Logger:            logger,
	}
}
