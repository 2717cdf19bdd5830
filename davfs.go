package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/httpbox/httpbox/internal/store"
	"golang.org/x/net/webdav"
)

// davFS is the webdav.FileSystem that x/net/webdav's handler reads through
// for one PROPFIND or PROPPATCH: the store, never the OS, so that the
// backend's confinement holds and both backends serve WebDAV alike.
//
// It reads, and its files hold dead properties (webdav.DeadPropsHolder on
// Backend.Props and PatchProps). It does not write bytes: PUT, MKCOL,
// DELETE, COPY and MOVE are served natively by davHandler (streamed, and
// atomic per backend through Backend.Put, Copy and Move), so x/net/webdav
// never asks it to.
//
// One davFS lives for one request: it remembers what Stat and List told
// it, so that a PROPFIND of a collection costs one List, not a List and a
// Stat per member.
type davFS struct {
	backend store.Backend
	locks   *davLocks
	known   map[string]store.Info // what was looked at one by one
	// listed holds the entries of the directory listedDir, in byte order
	// of their names, as Readdir read them: a PROPFIND Depth 1 then opens
	// each, and finds it here without asking the store again. A sorted
	// slice, not the map: 100,000 entries once cost 18 MB more there.
	listedDir string
	listed    []davInfo
	// liveOnly: the request asks for live properties alone, so dead
	// ones need not be read (a HEAD per object on S3).
	liveOnly bool
}

func newDAVFS(backend store.Backend, locks *davLocks) *davFS {
	return &davFS{backend: backend, locks: locks, known: make(map[string]store.Info)}
}

// davLiveNames are the DAV: properties x/net/webdav computes or refuses
// to store: no dead property can bear their names.
var davLiveNames = map[string]bool{
	"resourcetype": true, "displayname": true, "getcontentlength": true, "getlastmodified": true,
	"creationdate": true, "getcontentlanguage": true, "getcontenttype": true, "getetag": true,
	"lockdiscovery": true, "supportedlock": true,
}

// asksLiveOnly reports whether a PROPFIND body names live properties
// only (what file managers and rclone ask for a listing). An empty body
// is allprop; anything unexpected counts as asking for more.
func asksLiveOnly(body []byte) bool {
	var pf struct {
		Prop *struct {
			Names []struct{ XMLName xml.Name } `xml:",any"`
		} `xml:"DAV: prop"`
	}
	if len(bytes.TrimSpace(body)) == 0 || xml.Unmarshal(body, &pf) != nil || pf.Prop == nil {
		return false
	}
	for _, n := range pf.Prop.Names {
		if n.XMLName.Space != "DAV:" || !davLiveNames[n.XMLName.Local] {
			return false
		}
	}
	return true
}

// errDAVReadOnly: x/net/webdav asked davFS to write, which the handlers
// never let it do (see davFS).
var errDAVReadOnly = errors.New("davfs: writes go through the native handlers")

// storeName turns a name as x/net/webdav passes it ("/a/b", "/") into a
// store name. Names come from requests davHandler has resolved, and from
// listings; a listed name no request could name (a backslash) is refused
// as a bad file, which PROPFIND skips.
func storeName(op, name string) (string, error) {
	n := lockName(name)
	// Bytes that are not UTF-8 are a name's own (fs.ValidPath refuses
	// them): a file so named on disk is listed, its href percent-encoded.
	if n != "." && (strings.ContainsAny(n, "\x00\\") || !fs.ValidPath(strings.ToValidUTF8(n, "_"))) {
		return "", &os.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return n, nil
}

// fsError turns a store error into what x/net/webdav tests for:
// os.IsNotExist for a missing name (404), and an *os.PathError for a
// member a PROPFIND must skip (one that leads out of the root). Other
// errors stay as they are and fail the request.
func fsError(op, name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotExist), errors.Is(err, store.ErrNotDir):
		return &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case errors.Is(err, store.ErrOutside):
		return &os.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	return err
}

func (d *davFS) stat(name string) (store.Info, error) {
	if info, ok := d.known[name]; ok {
		return info, nil
	}
	if d.listed != nil && parentName(name) == d.listedDir {
		if i, found := slices.BinarySearchFunc(d.listed, name, func(e davInfo, n string) int { return strings.Compare(e.name, n) }); found {
			return d.listed[i].info, nil
		}
	}
	info, err := d.backend.Stat(storeContext, name)
	if err != nil {
		return store.Info{}, fsError("stat", name, err)
	}
	d.known[name] = info
	return info, nil
}

// Mkdir implements webdav.FileSystem; see davFS.
func (d *davFS) Mkdir(context.Context, string, os.FileMode) error { return errDAVReadOnly }

// RemoveAll implements webdav.FileSystem; see davFS.
func (d *davFS) RemoveAll(context.Context, string) error { return errDAVReadOnly }

// Rename implements webdav.FileSystem; see davFS.
func (d *davFS) Rename(context.Context, string, string) error { return errDAVReadOnly }

// Stat implements webdav.FileSystem.
func (d *davFS) Stat(_ context.Context, name string) (os.FileInfo, error) {
	n, err := storeName("stat", name)
	if err != nil {
		return nil, err
	}
	info, err := d.stat(n)
	if err != nil {
		return nil, err
	}
	return davInfo{name: n, info: info}, nil
}

// OpenFile implements webdav.FileSystem for what x/net/webdav opens: a
// name to read its properties and members (O_RDONLY), or to patch its
// properties (O_RDWR). Creating or truncating is refused (see davFS).
func (d *davFS) OpenFile(_ context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC|os.O_APPEND|os.O_WRONLY) != 0 {
		return nil, errDAVReadOnly
	}
	n, err := storeName("open", name)
	if err != nil {
		return nil, err
	}
	info, err := d.stat(n)
	if err != nil {
		return nil, err
	}
	return &davFile{fs: d, name: n, info: info}, nil
}

// davInfo is a store.Info as an os.FileInfo, with the entity tag and the
// content type /files/ gives the same file, so that PROPFIND and GET
// agree.
type davInfo struct {
	name string // the store name
	info store.Info
}

func (i davInfo) Name() string       { return path.Base(i.name) }
func (i davInfo) Size() int64        { return i.info.Size }
func (i davInfo) ModTime() time.Time { return i.info.ModTime }
func (i davInfo) IsDir() bool        { return i.info.IsDir }
func (i davInfo) Sys() any           { return nil }

func (i davInfo) Mode() os.FileMode {
	if i.info.IsDir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// ETag implements webdav.ETager: the store's entity tag, as GET sends it.
func (i davInfo) ETag(context.Context) (string, error) {
	if i.info.ETag == "" {
		return "", webdav.ErrNotImplemented
	}
	return i.info.ETag, nil
}

// ContentType implements webdav.ContentTyper: the compiled-in table GET
// uses, never the host's mime.types nor the file's first bytes.
func (i davInfo) ContentType(context.Context) (string, error) {
	ct, _ := contentTypeOf(i.name)
	return ct, nil
}

// davFile is a name opened by davFS: its properties, its members, and
// its bytes, read lazily (x/net/webdav does not read them for PROPFIND,
// since davInfo knows the content type).
type davFile struct {
	fs     *davFS
	name   string
	info   store.Info
	body   io.ReadCloser // open for reading at off, or nil
	off    int64
	listed []os.FileInfo // Readdir's members, once listed
}

func (f *davFile) Stat() (os.FileInfo, error) { return davInfo{name: f.name, info: f.info}, nil }

func (f *davFile) Write([]byte) (int, error) { return 0, errDAVReadOnly }

func (f *davFile) Close() error {
	if f.body == nil {
		return nil
	}
	err := f.body.Close()
	f.body = nil
	return err
}

func (f *davFile) Read(p []byte) (int, error) {
	if f.info.IsDir {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: store.ErrIsDir}
	}
	if f.body == nil {
		if f.off >= f.info.Size {
			return 0, io.EOF
		}
		obj, err := f.fs.backend.Open(storeContext, f.name, store.Range{Start: f.off, Length: -1})
		if err != nil {
			return 0, fsError("open", f.name, err)
		}
		if obj.Data != nil {
			f.body = io.NopCloser(bytes.NewReader(obj.Data[f.off:]))
		} else {
			f.body = obj.Body
			if obj.Offset < f.off {
				// The backend gave more than asked: skip to the offset.
				if _, err := io.CopyN(io.Discard, f.body, f.off-obj.Offset); err != nil {
					f.Close()
					return 0, err
				}
			}
		}
	}
	n, err := f.body.Read(p)
	f.off += int64(n)
	return n, err
}

func (f *davFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.info.Size
	}
	if offset < 0 {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if offset != f.off {
		f.Close() // the next Read opens at the new offset
		f.off = offset
	}
	return offset, nil
}

// Readdir lists the members once, and hands them out count at a time
// (all when count <= 0), as os.File.Readdir does. The davFS remembers
// them, so that x/net/webdav's Stat of each member costs nothing.
func (f *davFile) Readdir(count int) ([]os.FileInfo, error) {
	if !f.info.IsDir {
		return nil, &os.PathError{Op: "readdir", Path: f.name, Err: store.ErrNotDir}
	}
	if f.listed == nil {
		var entries []davInfo
		err := f.fs.backend.List(storeContext, f.name, func(info store.Info) error {
			member := info.Name
			if f.name != "." {
				member = f.name + "/" + info.Name
			}
			info.Name = ""
			entries = append(entries, davInfo{name: member, info: info})
			return nil
		})
		if err != nil {
			return nil, fsError("readdir", f.name, err)
		}
		f.fs.listedDir, f.fs.listed = f.name, entries
		// Pointers into entries: no copy of each entry in an interface.
		f.listed = make([]os.FileInfo, len(entries))
		for i := range entries {
			f.listed[i] = &entries[i]
		}
	}
	if count <= 0 {
		out := f.listed
		f.listed = f.listed[len(f.listed):]
		return out, nil
	}
	if len(f.listed) == 0 {
		return nil, io.EOF
	}
	n := min(count, len(f.listed))
	out := f.listed[:n]
	f.listed = f.listed[n:]
	return out, nil
}

// lockDiscoveryName is DAV:lockdiscovery. x/net/webdav knows the name but
// has no value for it; a dead property of that name takes its place in
// PROPFIND answers (dead properties are looked up first), and PROPPATCH
// still refuses to set it, since it is a protected live name there.
var lockDiscoveryName = xml.Name{Space: "DAV:", Local: "lockdiscovery"}

// DeadProps implements webdav.DeadPropsHolder: the properties the store
// keeps with the name, and the locks that apply to it.
func (f *davFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	var props []store.Prop
	if !f.fs.liveOnly {
		var err error
		if props, err = f.fs.backend.Props(storeContext, f.name); err != nil {
			return nil, fsError("props", f.name, err)
		}
	}
	out := make(map[xml.Name]webdav.Property, len(props)+1)
	for _, p := range props {
		out[p.Name] = webdav.Property{XMLName: p.Name, Lang: p.Lang, InnerXML: p.InnerXML}
	}
	var discovery []byte
	now := time.Now()
	for _, l := range f.fs.locks.applying(now, f.name) {
		discovery = appendActiveLock(discovery, l, l.expires.Sub(now))
	}
	out[lockDiscoveryName] = webdav.Property{XMLName: lockDiscoveryName, InnerXML: discovery}
	return out, nil
}

// Patch implements webdav.DeadPropsHolder: all of a PROPPATCH's changes
// or none (Backend.PatchProps). Properties too large for the store (an
// extended attribute's or S3 metadata's limit) get 507, as a full disk.
func (f *davFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	// The instructions apply in document order (RFC 4918 section 9.2):
	// of a set and a remove of one name, the last wins. What goes to the
	// backend is that net effect, whatever order it applies them in.
	// The last instruction for each name, by name: a map, so that a body
	// of 100,000 properties costs linear time, not quadratic.
	last := make(map[xml.Name]int)
	var all []webdav.Proppatch // one instruction each, in document order
	var names []webdav.Property
	for _, patch := range patches {
		for _, p := range patch.Props {
			last[p.XMLName] = len(all)
			all = append(all, webdav.Proppatch{Remove: patch.Remove, Props: []webdav.Property{p}})
			names = append(names, webdav.Property{XMLName: p.XMLName})
		}
	}
	var set []store.Prop
	var remove []xml.Name
	for i, patch := range all {
		p := patch.Props[0]
		switch {
		case last[p.XMLName] != i:
		case patch.Remove:
			remove = append(remove, p.XMLName)
		default:
			set = append(set, store.Prop{Name: p.XMLName, Lang: p.Lang, InnerXML: p.InnerXML})
		}
	}
	err := f.fs.backend.PatchProps(storeContext, f.name, set, remove)
	switch {
	case err == nil:
		return []webdav.Propstat{{Status: 200, Props: names}}, nil
	case errors.Is(err, store.ErrNoSpace):
		return []webdav.Propstat{{Status: webdav.StatusInsufficientStorage, Props: names}}, nil
	}
	return nil, fmt.Errorf("proppatch %s: %w", f.name, err)
}
