// Package store is where httpbox keeps its files: one Backend interface,
// a directory backend (Dir, through os.Root) and an S3 backend (S3), and an
// optional in-memory cache (Cache) that wraps a backend and validates.
//
// Names are slash-separated paths relative to the root, already cleaned by
// the caller ("a/b.txt", never "/a", "a/../b" or "a//b"); "." is the root.
// Every backend turns its own errors into the sentinels below, once, at
// its edge: callers never see an errno or an AWS error type.
package store

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"time"
)

// Backend is the storage behind /files/, listings and WebDAV.
//
// Writes are atomic: a reader sees the old bytes or the new, never a mix,
// and a write that fails or is cut off leaves nothing behind (no partial
// file, no parent directory it created, no multipart upload).
type Backend interface {
	// CheckName refuses, with ErrBadName, a name this backend can never
	// hold (too long, reserved). It is cheap and touches no storage, so
	// that a bad path is refused before a body is read.
	CheckName(name string) error

	// Stat describes a file or a directory.
	Stat(ctx context.Context, name string) (Info, error)

	// Open opens a file for reading. rng is a hint: a backend may return
	// more than asked (the whole file), and says in the Object what Body
	// holds. A directory is ErrIsDir; anything else that is not a regular
	// file (a FIFO, a device) is ErrNotExist.
	Open(ctx context.Context, name string, rng Range) (Object, error)

	// Put stores body as name, creating missing parent directories.
	// size is the body's length when known, else -1; the body may still
	// fail (a client cut off), and then nothing is stored. cond is checked
	// atomically with the commit as far as the backend can (see Cond).
	// created tells a new name from a replaced one.
	Put(ctx context.Context, name string, body io.Reader, size int64, cond Cond) (created bool, err error)

	// Delete removes a file or a directory. A directory that is not empty
	// is ErrNotEmpty unless recursive is set. cond as for Put.
	Delete(ctx context.Context, name string, recursive bool, cond Cond) error

	// Mkdir creates one directory: ErrExist if the name is taken,
	// ErrNotExist if its parent is missing, ErrNotDir if the parent is a
	// file.
	Mkdir(ctx context.Context, name string) error

	// List calls fn for every entry of the directory dir, in byte order of
	// their names, with Info.Name set to the entry's name in dir. It holds
	// no more than the names in memory, whatever the directory's size.
	// Entries that are not files or directories (special files, symlinks
	// that lead out of the root or nowhere, upload temporary files) are
	// not listed. An error from fn stops the listing and is returned.
	List(ctx context.Context, dir string, fn func(Info) error) error

	// Move renames src to dst, files and directories alike, with their
	// properties. With overwrite, an existing dst is replaced (a directory
	// whole); without, an existing dst is ErrExist. dst's parent must
	// exist (ErrNotExist), and nothing moves into itself or onto one of
	// its ancestors (ErrConflict), symlinks on the way included.
	Move(ctx context.Context, src, dst string, overwrite bool) (created bool, err error)

	// Copy copies src to dst, with properties; a directory with its whole
	// tree when recursive, else as an empty directory. overwrite and the
	// errors as for Move.
	Copy(ctx context.Context, src, dst string, overwrite, recursive bool) (created bool, err error)

	// Props returns the dead properties stored with name, in no particular
	// order.
	Props(ctx context.Context, name string) ([]Prop, error)

	// PatchProps sets and removes dead properties of name, all or none.
	PatchProps(ctx context.Context, name string, set []Prop, remove []xml.Name) error

	// Cleanup removes what a killed process left behind (temporary files,
	// unfinished multipart uploads). It may take long: it is meant to run
	// in the background once the server is listening. Errors go to report;
	// it returns how many leftovers it removed.
	Cleanup(report func(format string, args ...any)) int

	// Close cuts off the writes still running, so that they leave nothing
	// behind, and releases the backend.
	Close() error
}

// Info describes a file or a directory.
type Info struct {
	// Name is the entry's name within its directory; set by List only.
	Name    string
	Size    int64 // 0 for a directory
	ModTime time.Time
	IsDir   bool
	// ETag is the file's strong entity tag, quotes included. It changes
	// whenever the bytes may have changed. Empty for a directory.
	ETag string
}

// Range asks Open for part of a file: Length bytes from Start (Length -1:
// to the end), or, when Start is negative, the last -Start bytes. The zero
// Range, and Whole, ask for the whole file.
type Range struct {
	Start, Length int64
}

// Whole asks Open for the whole file.
var Whole = Range{Start: 0, Length: -1}

// IsWhole reports whether r asks for the whole file.
func (r Range) IsWhole() bool {
	return r.Start == 0 && (r.Length < 0 || r == Range{})
}

// Object is a file opened for reading.
type Object struct {
	Info
	// Data holds the whole file when it is in memory (Cache): immutable,
	// to be sent without a copy. Body is nil then.
	Data []byte
	// Body yields Length bytes of the file from Offset on: the range
	// asked for, or more. It may also be an io.Seeker, and an
	// interface{ File() (*os.File, *int64) } when it can be sent with
	// sendfile: the file, and the offset to send from, which sendfile
	// advances (nil: the file's own). The caller closes it.
	Body           io.ReadCloser
	Offset, Length int64
}

// Cond is a write's precondition, checked against what the name holds at
// the commit.
type Cond struct {
	// IfAbsent: create only; a taken name fails with ErrExist
	// (If-None-Match: *).
	IfAbsent bool
	// Holds, when set, is asked at the commit whether the write may go
	// on, given what name holds then (exists is false when nothing); false
	// fails the write with ErrPrecondition. The directory backend asks it
	// under a lock no other write through the same Dir takes in between.
	Holds func(cur Info, exists bool) bool
}

// Prop is a dead property (RFC 4918): any XML element a client stored.
type Prop struct {
	Name     xml.Name
	Lang     string
	InnerXML []byte
}

// The errors every backend reports, wrapped with its details. The HTTP
// side maps them to statuses in one place.
var (
	ErrNotExist     = errors.New("not found")
	ErrIsDir        = errors.New("is a directory")
	ErrNotDir       = errors.New("a parent is not a directory")
	ErrNotEmpty     = errors.New("directory not empty")
	ErrExist        = errors.New("already exists")
	ErrOutside      = errors.New("path leaves the root")
	ErrNoSpace      = errors.New("no space left")
	ErrBadName      = errors.New("bad name")
	ErrConflict     = errors.New("conflicts with what is stored")
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnavailable: the store cannot be reached or refuses to serve
	// now (connection refused, throttled).
	ErrUnavailable = errors.New("storage unavailable")
	// ErrTimeout: the store did not answer in time.
	ErrTimeout = errors.New("storage timed out")
	// ErrUpstream: the store failed or answered what it should not.
	ErrUpstream = errors.New("storage failed")
)

// sentinels are the errors every backend speaks.
var sentinels = []error{
	ErrNotExist, ErrIsDir, ErrNotDir, ErrNotEmpty, ErrExist, ErrOutside, ErrNoSpace,
	ErrBadName, ErrConflict, ErrPrecondition, ErrUnavailable, ErrTimeout, ErrUpstream,
}

// translated reports whether err already carries one of the sentinels.
func translated(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// patchProps applies a PROPPATCH's changes to props, for every backend,
// in time linear in their number: a body of 100,000 properties is within the XML limit.
func patchProps(props []Prop, set []Prop, remove []xml.Name) []Prop {
	at := make(map[xml.Name]int, len(props)+len(set))
	for i, p := range props {
		at[p.Name] = i
	}
	gone := make(map[xml.Name]bool, len(remove))
	for _, name := range remove {
		gone[name] = true
	}
	for _, p := range set {
		delete(gone, p.Name)
		if i, ok := at[p.Name]; ok {
			props[i] = p
			continue
		}
		at[p.Name] = len(props)
		props = append(props, p)
	}
	return slices.DeleteFunc(props, func(p Prop) bool { return gone[p.Name] })
}
