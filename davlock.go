package main

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/webdav"
)

// WebDAV locks (RFC 4918 sections 6 and 7) live in the memory of one
// instance, as the contract says: a restart forgets them, and instances
// behind one load balancer do not share them.
const (
	// maxLockTimeout is the longest a lock is granted for, whatever the
	// client asks (Infinite included): a client that vanished without
	// UNLOCK must not hold a name until the next restart. Clients that
	// want longer refresh (davfs2, Finder and Windows do).
	maxLockTimeout = 24 * time.Hour
	// maxLocks bounds the lock table, so that LOCK requests cannot grow
	// memory without bound; a write's check scans the whole table.
	maxLocks = 10000
)

// davLocks is the lock table. It answers LOCK, UNLOCK and refreshes,
// tells whether a write may go on (blocked), and is the
// webdav.LockSystem of the x/net/webdav handler that serves PROPFIND and
// PROPPATCH. Names are store names ("a/b", "." for the root); the names
// x/net/webdav passes ("/a/b/") are turned into those.
type davLocks struct {
	// live counts the locks in the table, expired ones not yet swept
	// included: when it is 0, no write anywhere can be locked, and
	// lockedFor answers with this one atomic load.
	live  atomic.Int64
	mu    sync.Mutex
	locks map[string]*davLock // by token
}

// davLock is one granted lock.
type davLock struct {
	token   string
	root    string // the locked name
	shared  bool
	deep    bool   // Depth: infinity
	owner   string // the <D:owner> element as the client sent it, or ""
	timeout time.Duration
	expires time.Time
}

func newDAVLocks() *davLocks {
	return &davLocks{locks: make(map[string]*davLock)}
}

// lockName turns a name as x/net/webdav spells it ("/a/b/", "/") into a
// store name ("a/b", "."); store names pass unchanged.
func lockName(name string) string {
	name = strings.Trim(name, "/")
	if name == "" {
		return "."
	}
	return name
}

// nameWithin reports whether name is ancestor itself or lies under it.
func nameWithin(name, ancestor string) bool {
	return name == ancestor || ancestor == "." || strings.HasPrefix(name, ancestor) && len(name) > len(ancestor) && name[len(ancestor)] == '/'
}

// covers reports whether l applies to name: its root, or anything under
// it for a deep lock.
func (l *davLock) covers(name string) bool {
	return l.root == name || l.deep && nameWithin(name, l.root)
}

// lockTimeout is the timeout granted for the one asked (negative:
// infinite).
func lockTimeout(asked time.Duration) time.Duration {
	if asked <= 0 || asked > maxLockTimeout {
		return maxLockTimeout
	}
	return asked
}

// newLockToken returns a fresh lock token: a random UUID URN, an
// absolute URI as RFC 4918 section 6.5 wants, unguessable, so that a
// token is proof that the client was granted the lock.
func newLockToken() string {
	var u [16]byte
	_, _ = rand.Read(u[:])  // crypto/rand never fails (Go 1.24)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant RFC 9562
	const hexDigits = "0123456789abcdef"
	b := []byte("urn:uuid:")
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(b)
}

// sweep drops expired locks. The caller holds mu.
func (ls *davLocks) sweep(now time.Time) {
	for token, l := range ls.locks {
		if now.After(l.expires) {
			delete(ls.locks, token)
			ls.live.Add(-1)
		}
	}
}

// create grants a lock on root, or fails with webdav.ErrLocked when it
// conflicts with one held: two locks conflict when either is exclusive
// and one applies to the other's root (RFC 4918 section 6.1).
func (ls *davLocks) create(now time.Time, root string, shared, deep bool, owner string, timeout time.Duration) (davLock, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweep(now)
	if len(ls.locks) >= maxLocks {
		return davLock{}, errTooManyLocks
	}
	for _, held := range ls.locks {
		if (!shared || !held.shared) && (held.covers(root) || deep && nameWithin(held.root, root)) {
			return davLock{}, webdav.ErrLocked
		}
	}
	timeout = lockTimeout(timeout)
	l := &davLock{token: newLockToken(), root: root, shared: shared, deep: deep, owner: owner,
		timeout: timeout, expires: now.Add(timeout)}
	ls.locks[l.token] = l
	ls.live.Add(1)
	return *l, nil
}

// refresh restarts the timeout of the lock token, which must apply to
// name (the request's target); webdav.ErrNoSuchLock otherwise.
func (ls *davLocks) refresh(now time.Time, token, name string, timeout time.Duration) (davLock, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweep(now)
	l, ok := ls.locks[token]
	if !ok || name != "" && !l.covers(name) {
		return davLock{}, webdav.ErrNoSuchLock
	}
	l.timeout = lockTimeout(timeout)
	l.expires = now.Add(l.timeout)
	return *l, nil
}

// unlock removes the lock token, which must apply to name (RFC 4918
// section 9.11.1: lock-token-matches-request-uri); webdav.ErrNoSuchLock
// otherwise. An empty name skips that check.
func (ls *davLocks) unlock(now time.Time, token, name string) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweep(now)
	l, ok := ls.locks[token]
	if !ok || name != "" && !l.covers(name) {
		return webdav.ErrNoSuchLock
	}
	delete(ls.locks, token)
	ls.live.Add(-1)
	return nil
}

// forget drops the locks on name and under it, once a DELETE or a MOVE
// has removed them (RFC 4918 sections 9.6.1 and 9.9: locks are not moved).
func (ls *davLocks) forget(name string) {
	if ls.live.Load() == 0 {
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for token, l := range ls.locks {
		if nameWithin(l.root, name) {
			delete(ls.locks, token)
			ls.live.Add(-1)
		}
	}
}

// valid reports whether token names a lock that applies to name: such a
// state token in an If header is true (RFC 4918 section 10.4.8).
func (ls *davLocks) valid(now time.Time, token, name string) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.locks[token]
	return ok && !now.After(l.expires) && l.covers(name)
}

// applying returns the locks that apply to name, for its lockdiscovery.
func (ls *davLocks) applying(now time.Time, name string) []davLock {
	if ls.live.Load() == 0 {
		return nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweep(now)
	var out []davLock
	for _, l := range ls.locks {
		if l.covers(name) {
			out = append(out, *l)
		}
	}
	return out
}

// blocked reports whether a write is refused by a lock whose token the
// client did not submit. The write changes name, and with deep
// everything under it (a DELETE, MOVE or COPY onto a collection); with
// member it adds or removes name from its collection, which a depth-0
// lock on that collection protects (RFC 4918 section 7.5). A lock is
// satisfied when the client submitted its token, or that of another
// lock that applies to its root: one of several shared locks is enough.
func (ls *davLocks) blocked(now time.Time, name string, deep, member bool, submitted []string) bool {
	if ls.live.Load() == 0 {
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweep(now)
	parent := ""
	if member && name != "." {
		parent = parentName(name)
	}
	for _, l := range ls.locks {
		applies := l.covers(name) || deep && nameWithin(l.root, name) || l.root == parent
		if applies && !ls.satisfied(l, submitted) {
			return true
		}
	}
	return false
}

// satisfied reports whether a submitted token satisfies l. The caller
// holds mu.
func (ls *davLocks) satisfied(l *davLock, submitted []string) bool {
	for _, token := range submitted {
		if s, ok := ls.locks[token]; ok && (s == l || s.covers(l.root)) {
			return true
		}
	}
	return false
}

// parentName is the collection that holds name ("." for a name at the
// root).
func parentName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return "."
}

// The webdav.LockSystem of the x/net/webdav handler (PROPFIND and
// PROPPATCH). By then the request has passed blocked and the If header
// (see davHandler.checkLocks); these keep x/net/webdav's own checks
// consistent with it.

// Confirm implements webdav.LockSystem: the conditions' state tokens must
// name locks that apply to the names, and no other lock may refuse the
// write. Entity tags were checked against the store before.
func (ls *davLocks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	var submitted []string
	for _, c := range conditions {
		if c.Token == "" {
			continue
		}
		known := false
		for _, name := range []string{name0, name1} {
			if name != "" && ls.valid(now, c.Token, lockName(name)) {
				known = true
			}
		}
		if known == c.Not {
			return nil, webdav.ErrConfirmationFailed
		}
		if !c.Not {
			submitted = append(submitted, c.Token)
		}
	}
	for _, name := range []string{name0, name1} {
		if name != "" && ls.blocked(now, lockName(name), true, false, submitted) {
			return nil, webdav.ErrConfirmationFailed
		}
	}
	return func() {}, nil
}

// Create implements webdav.LockSystem; x/net/webdav asks it for the
// exclusive depth-0 lock it holds for the length of a write sent without
// an If header.
func (ls *davLocks) Create(now time.Time, details webdav.LockDetails) (string, error) {
	l, err := ls.create(now, lockName(details.Root), false, !details.ZeroDepth, details.OwnerXML, details.Duration)
	return l.token, err
}

// Refresh implements webdav.LockSystem.
func (ls *davLocks) Refresh(now time.Time, token string, duration time.Duration) (webdav.LockDetails, error) {
	l, err := ls.refresh(now, token, "", duration)
	if err != nil {
		return webdav.LockDetails{}, err
	}
	return webdav.LockDetails{Root: "/" + l.root, Duration: l.timeout, OwnerXML: l.owner, ZeroDepth: !l.deep}, nil
}

// Unlock implements webdav.LockSystem.
func (ls *davLocks) Unlock(now time.Time, token string) error {
	return ls.unlock(now, token, "")
}

// ifList is one list of an If header (RFC 4918 section 10.4): its
// conditions must all hold, for the tagged resource or, untagged, for
// the request's.
type ifList struct {
	tag        string // the resource tag, a URL or an absolute path, or ""
	conditions []webdav.Condition
}

// parseIf parses an If header: untagged lists "(...) (...)" or tagged
// ones "<url> (...) <url> (...)". ok is false when it is malformed.
func parseIf(h string) (lists []ifList, ok bool) {
	s := strings.TrimSpace(h)
	tagged := strings.HasPrefix(s, "<")
	tag := ""
	for s != "" {
		switch s[0] {
		case '<':
			if !tagged {
				return nil, false
			}
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, false
			}
			tag, s = s[1:end], s[end+1:]
		case '(':
			l, rest, ok := parseIfList(s[1:])
			if !ok {
				return nil, false
			}
			l.tag = tag
			lists, s = append(lists, l), rest
		default:
			return nil, false
		}
		s = strings.TrimLeft(s, " \t")
	}
	return lists, len(lists) > 0
}

// parseIfList parses the conditions of a list after its "(", up to and
// including its ")".
func parseIfList(s string) (l ifList, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		var c webdav.Condition
		if rest, found := strings.CutPrefix(s, "Not"); found {
			c.Not, s = true, strings.TrimLeft(rest, " \t")
		}
		if s == "" {
			return ifList{}, "", false
		}
		switch s[0] {
		case ')':
			if c.Not || len(l.conditions) == 0 {
				return ifList{}, "", false
			}
			return l, s[1:], true
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return ifList{}, "", false
			}
			c.Token, s = s[1:end], s[end+1:]
		case '[':
			end := etagEnd(s[1:])
			if end < 0 {
				return ifList{}, "", false
			}
			c.ETag, s = s[1:1+end], s[2+end:]
		default:
			return ifList{}, "", false
		}
		l.conditions = append(l.conditions, c)
	}
}

// etagEnd finds the "]" that closes an entity tag which starts s: the
// tag is quoted, and a "]" may stand inside the quotes.
func etagEnd(s string) int {
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i < len(s) && s[i] == '"' {
		q := strings.IndexByte(s[i+1:], '"')
		if q < 0 {
			return -1
		}
		i += q + 2
	}
	if j := strings.IndexByte(s[i:], ']'); j >= 0 {
		return i + j
	}
	return -1
}

// submittedTokens returns the lock tokens an If header submits: every
// state token it names, but for those under Not.
func submittedTokens(lists []ifList) []string {
	var tokens []string
	for _, l := range lists {
		for _, c := range l.conditions {
			if c.Token != "" && !c.Not {
				tokens = append(tokens, c.Token)
			}
		}
	}
	return tokens
}

// appendActiveLock appends l as a DAV:activelock element (RFC 4918
// section 14.1), with left as its timeout, for a LOCK answer and for
// the lockdiscovery property. It declares its own namespace, since a
// property's value is copied into PROPFIND answers as it is.
func appendActiveLock(b []byte, l davLock, left time.Duration) []byte {
	b = append(b, `<D:activelock xmlns:D="DAV:"><D:locktype><D:write/></D:locktype><D:lockscope>`...)
	if l.shared {
		b = append(b, "<D:shared/>"...)
	} else {
		b = append(b, "<D:exclusive/>"...)
	}
	b = append(b, "</D:lockscope><D:depth>"...)
	if l.deep {
		b = append(b, "infinity"...)
	} else {
		b = append(b, '0')
	}
	b = append(b, "</D:depth>"...)
	b = append(b, l.owner...)
	b = append(b, "<D:timeout>Second-"...)
	b = strconv.AppendInt(b, int64((left+time.Second-1)/time.Second), 10)
	b = append(b, "</D:timeout><D:locktoken><D:href>"...)
	b = appendXMLText(b, l.token)
	b = append(b, "</D:href></D:locktoken><D:lockroot><D:href>"...)
	b = appendXMLText(b, davHref(l.root))
	return append(b, "</D:href></D:lockroot></D:activelock>"...)
}

// appendXMLText appends s escaped as XML character data.
func appendXMLText(b []byte, s string) []byte {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s)) // a bytes.Buffer does not fail
	return append(b, buf.Bytes()...)
}

// davHref is the URL path of a store name under /dav/, percent-encoded.
func davHref(name string) string {
	if name == "." {
		return davPrefix
	}
	return (&url.URL{Path: davPrefix + name}).EscapedPath()
}
