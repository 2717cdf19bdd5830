// Command idleconns opens many keep-alive connections to an HTTP/1.1 server,
// sends one request on each, and then holds them open and idle, so that
// bench/run can measure the server's memory and a fresh client's latency
// while they are open.
//
// It writes "OK FAILED" to the -ready file once every connection has been
// tried, then holds until SIGTERM/SIGINT or -hold has passed, closes them all
// and exits. Everything is bounded: the opening phase by -open-timeout, the
// holding phase by -hold. It exits 1 when no connection could be opened.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4221", "server address (host:port); loopback only")
	n := flag.Int("n", 10000, "connections to open")
	path := flag.String("path", "/healthz", "path requested once on each connection")
	workers := flag.Int("concurrency", 64, "connections opened in parallel")
	dialTimeout := flag.Duration("dial-timeout", 5*time.Second, "timeout for one dial and its request")
	openTimeout := flag.Duration("open-timeout", 60*time.Second, "time allowed to open all connections")
	hold := flag.Duration("hold", 120*time.Second, "longest time to hold the connections open")
	ready := flag.String("ready", "", "file to write \"OK FAILED\" to once the connections are open")
	flag.Parse()

	if err := checkLoopback(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(2)
	}
	if *n < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "idleconns: -n and -concurrency must be positive")
		os.Exit(2)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	start := time.Now()
	deadline := start.Add(*openTimeout)
	conns := make([]net.Conn, *n)
	var failed atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				if time.Now().After(deadline) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, errors.New("open timeout reached"))
					continue
				}
				c, err := open(*addr, *path, *dialTimeout)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()

	ok := int64(*n) - failed.Load()
	fmt.Fprintf(os.Stderr, "idleconns: %d of %d connections open to %s in %.1fs (%d failed)\n",
		ok, *n, *addr, time.Since(start).Seconds(), failed.Load())
	if e, _ := firstErr.Load().(error); e != nil {
		fmt.Fprintln(os.Stderr, "idleconns: first error:", e)
	}
	if *ready != "" {
		tmp := *ready + ".tmp"
		if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", ok, failed.Load()), 0o644); err == nil {
			_ = os.Rename(tmp, *ready)
		}
	}

	if ok > 0 {
		t := time.NewTimer(*hold)
		select {
		case <-sigs:
		case <-t.C:
			fmt.Fprintln(os.Stderr, "idleconns: hold time over")
		}
		t.Stop()
	}
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	if ok == 0 {
		os.Exit(1)
	}
}

// open dials addr, sends one GET for path and reads the whole response,
// leaving the connection idle and open.
func open(addr, path string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		c, err = net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: idleconns\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		c.Close()
		return nil, fmt.Errorf("GET %s: %s (close=%v)", path, resp.Status, resp.Close)
	}
	if br.Buffered() > 0 {
		c.Close()
		return nil, errors.New("unexpected bytes after the response")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// checkLoopback refuses any address that is not on the loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", host)
	}
	return nil
}
