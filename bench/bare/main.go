// Command bare is the benchmark's reference: the least a fasthttp server
// can do to answer bench/run's scenarios. It has no router, no checks, no
// log, no timeouts beyond fasthttp's defaults and no streaming: what is
// left is fasthttp and Go, so httpbox's distance to it is httpbox's own
// cost, and its distance to nginx is the runtime's.
//
//	bare -addr 127.0.0.1:0 -root DIR
//
// It prints the address it listens on, then serves until SIGTERM.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	root := flag.String("root", ".", "directory served under /files/")
	flag.Parse()

	files := (&fasthttp.FS{
		Root:               *root,
		PathRewrite:        fasthttp.NewPathSlashesStripper(1),
		AcceptByteRange:    true,
		GenerateIndexPages: false,
		Compress:           false,
	}).NewRequestHandler()
	echo := []byte("/echo/")
	userAgent := []byte("/user-agent")
	filesPrefix := []byte("/files/")

	handler := func(ctx *fasthttp.RequestCtx) {
		path := ctx.Path()
		switch {
		case bytes.HasPrefix(path, echo):
			ctx.SetContentType("text/plain")
			ctx.SetBody(path[len(echo):])
		case bytes.Equal(path, userAgent):
			ctx.SetContentType("text/plain")
			ctx.SetBody(ctx.UserAgent())
		case bytes.HasPrefix(path, filesPrefix):
			files(ctx)
		default:
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}

	ln, err := net.Listen("tcp4", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	srv := &fasthttp.Server{Handler: handler, NoDefaultServerHeader: true}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}
