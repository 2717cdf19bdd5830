package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// accessRecord is a JSON access line as a pipeline reads it.
type accessRecord struct {
	Time       string   `json:"time"`
	Remote     string   `json:"remote"`
	Method     *string  `json:"method"`
	Target     *string  `json:"target"`
	Status     int      `json:"status"`
	Bytes      int64    `json:"bytes"`
	DurationMS *float64 `json:"duration_ms"`
	Msg        string   `json:"msg"`
}

// parseJSONLines parses out line by line, strictly: every line one object
// with known fields only, printable ASCII only.
func parseJSONLines(t *testing.T, out string) []accessRecord {
	t.Helper()
	var recs []accessRecord
	for line := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		for i := 0; i < len(line); i++ {
			if c := line[i]; c < 0x20 || c >= 0x7f {
				t.Fatalf("byte %#02x in JSON line %q", c, line)
			}
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var r accessRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if dec.More() {
			t.Fatalf("line %q: more than one value", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Fatalf("line %q: time: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// asJSONSees is s as encoding/json carries it: invalid UTF-8 becomes
// U+FFFD, byte by byte.
func asJSONSees(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back string
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

// TestLogJSONHostileRequests: quotes, backslashes, control bytes,
// invalid UTF-8, characters beyond U+FFFF and line separators in method
// and target all give one valid JSON object a line, whose fields read
// back as sent (invalid UTF-8 as U+FFFD, as encoding/json would).
func TestLogJSONHostileRequests(t *testing.T) {
	sink := &lockedBuffer{}
	l := newStyledLog(sink, false, logStyle{json: true})
	var ctl strings.Builder
	for c := range 0x20 {
		if c != '\r' && c != '\n' { // fasthttp turns these into spaces
			ctl.WriteByte(byte(c))
		}
	}
	targets := []string{
		`/files/"quoted"`,
		`/files/back\slash\"\\`,
		"/files/" + ctl.String() + "\x7f",
		"/files/bad\xff\xfe\xc3utf8\xe2\x82",
		"/files/\u0085\u2028\u2029\u202e\U0001F600é",
		`/files/{"status":999}`,
	}
	method := "G\"E\\T\x01\xff"
	for _, target := range targets {
		l.request(logTestCtx(l, method, target), ended{start: time.Now().Add(-1500 * time.Microsecond), end: time.Now(), sent: 5})
	}
	l.unparsed(logTestCtx(l, "GET", "/"), ended{})
	l.Printf("message with \"quotes\"\r\nforged %s", "\xff")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := parseJSONLines(t, sink.String())
	if len(recs) != len(targets)+2 {
		t.Fatalf("got %d lines, want %d:\n%s", len(recs), len(targets)+2, sink)
	}
	for i, target := range targets {
		r := recs[i]
		if r.Target == nil || *r.Target != asJSONSees(t, target) {
			t.Errorf("target %q logged as %v", target, r.Target)
		}
		if r.Method == nil || *r.Method != asJSONSees(t, method) {
			t.Errorf("method logged as %v", r.Method)
		}
		if r.Remote != "192.0.2.7:40000" || r.Status != 200 || r.Bytes != 5 || r.DurationMS == nil || *r.DurationMS < 1.5 || *r.DurationMS > 1000 {
			t.Errorf("line %d: %+v", i, r)
		}
	}
	if u := recs[len(targets)]; u.Method != nil || u.Target != nil || u.Status != 200 {
		t.Errorf("unparsed request logged as %+v, want null method and target", u)
	}
	if m := recs[len(targets)+1]; m.Msg != "message with \"quotes\"\r\nforged \ufffd" {
		t.Errorf("message logged as %q", m.Msg)
	}
}

// TestLogJSONBinary: with --log-format json every line after the start-up
// line is a JSON object, and each request's has its real status and
// bytes.
func TestLogJSONBinary(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, "a.txt", []byte("hello"))
	p := startBinary(t, root, "--log-format", "json")
	getRaw(t, p, "/files/a.txt")
	getRaw(t, p, "/files/missing")
	getRaw(t, p, `/echo/%22x%5C`)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	lines := logLinesAfterStart(p)
	recs := parseJSONLines(t, strings.Join(lines, "\n"))
	var got []string
	for _, r := range recs {
		if r.Method != nil {
			got = append(got, fmt.Sprintf("%s %s %d %d", *r.Method, *r.Target, r.Status, r.Bytes))
		}
	}
	want := []string{"GET /files/a.txt 200 5", "GET /files/missing 404 10", `GET /echo/%22x%5C 200 3`}
	if len(got) < 3 || strings.Join(got[:3], "|") != strings.Join(want, "|") {
		t.Errorf("got access records %q, want %q\n%s", got, want, p.stderr)
	}
}

// TestLogFormatInvalid: an unknown format exits 2 with a one-line reason.
func TestLogFormatInvalid(t *testing.T) {
	code, _, stderr := runBinary(t, nil, "--log-format", "xml")
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--log-format") {
		t.Errorf("exit %d, stderr %q; want 2 and one line naming --log-format", code, stderr)
	}
}

// TestLogJournalUntimed: when JOURNAL_STREAM names stderr, text lines
// carry no timestamp (the journal stamps them); when it names another
// stream (a child of a service, its stderr redirected), they keep it.
func TestLogJournalUntimed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		matches bool
	}{{"stderr is the journal", true}, {"stderr is elsewhere", false}} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			p := startBinaryCmd(t, root, func(cmd *exec.Cmd) {
				f := cmd.Stderr.(*os.File)
				fi, err := f.Stat()
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				ino := st.Ino
				if !tt.matches {
					ino++
				}
				cmd.Env = append(cmd.Env, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, ino))
			})
			getRaw(t, p, "/healthz")
			p.signal(t, syscall.SIGTERM)
			p.wait(t, 10*time.Second)
			var access string
			for _, line := range logLinesAfterStart(p) {
				if strings.Contains(line, " GET /healthz ") {
					access = line
				}
			}
			stamped := access != "" && !strings.HasPrefix(access, "127.0.0.1:")
			if access == "" || stamped == tt.matches {
				t.Errorf("access line %q: timestamp %v, want %v", access, stamped, !tt.matches)
			}
		})
	}
}
