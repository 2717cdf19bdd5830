package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file's family run the real binary over loopback TCP:
// flags, exit codes, signals, systemd and faults can only be seen there.

const testVersion = "1.2.3-test"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds httpbox once per test run and returns its path.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "httpbox-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "httpbox")
		cmd := exec.Command("go", "build", "-o", binPath,
			"-ldflags", "-X main.version="+testVersion+" -X main.commit=abc1234 -X main.date=2026-01-02", ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lockedBuffer collects a process's stderr while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverProc is a running httpbox binary.
type serverProc struct {
	cmd    *exec.Cmd
	addr   string // host:port it really listens on
	root   string
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, valid after done
}

var startLine = regexp.MustCompile(`listening on http://(\S+) serving (.+)`)

// startBinary runs httpbox on 127.0.0.1 with a free port, serving root,
// and waits for its start-up line. Extra args follow the defaults, so they
// can override them. The process is killed when the test ends.
func startBinary(t testing.TB, root string, args ...string) *serverProc {
	t.Helper()
	return startBinaryCmd(t, root, nil, args...)
}

// startBinaryCmd is startBinary with a hook to adjust the command (its
// environment, extra files) before it starts.
func startBinaryCmd(t testing.TB, root string, adjust func(*exec.Cmd), args ...string) *serverProc {
	t.Helper()
	bin := buildBinary(t)
	all := append([]string{"--host", "127.0.0.1", "--port", "0", "--directory", root}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = os.Environ()
	p := &serverProc{cmd: cmd, root: root, stderr: &lockedBuffer{}, done: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if adjust != nil {
		adjust(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		first := true
		for sc.Scan() {
			p.stderr.Write(append(sc.Bytes(), '\n'))
			if first {
				first = false
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case line := <-lines:
		m := startLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("start-up line %q does not match %v; stderr:\n%s", line, startLine, p.stderr)
		}
		p.addr = m[1]
	case <-time.After(15 * time.Second):
		t.Fatalf("no start-up line within 15s; stderr:\n%s", p.stderr)
	}
	return p
}

// url returns the http URL of path on the server.
func (p *serverProc) url(path string) string { return "http://" + p.addr + path }

// signal sends sig to the process.
func (p *serverProc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *serverProc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("process still running after %v; stderr:\n%s", d, p.stderr)
	}
	return exitStatus(p.err)
}

// runBinary runs httpbox to completion (for flags that exit at once) and
// returns its exit code, stdout and stderr.
func runBinary(t testing.TB, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitStatus(err), out.String(), errOut.String()
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("httpbox %s did not exit within 10s", strings.Join(args, " "))
	}
	return 0, "", ""
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// procStatus reads one field (in kB) of /proc/PID/status, e.g. VmHWM.
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) {
				if c >= '0' && c <= '9' {
					kb = kb*10 + int64(c-'0')
				}
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// openFDs counts the open file descriptors of a process.
func openFDs(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
