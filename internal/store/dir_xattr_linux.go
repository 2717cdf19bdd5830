package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errNoAttr = unix.ENODATA

// getXattr reads the extended attribute attr of f.
func getXattr(f *os.File, attr string) ([]byte, error) {
	fd := int(f.Fd())
	for {
		size, err := unix.Fgetxattr(fd, attr, nil)
		if err != nil {
			return nil, xattrError(err)
		}
		buf := make([]byte, size)
		n, err := unix.Fgetxattr(fd, attr, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // it grew meanwhile
		}
		if err != nil {
			return nil, xattrError(err)
		}
		return buf[:n], nil
	}
}

func setXattr(f *os.File, attr string, data []byte) error {
	return xattrError(unix.Fsetxattr(int(f.Fd()), attr, data, 0))
}

func removeXattr(f *os.File, attr string) error {
	return xattrError(unix.Fremovexattr(int(f.Fd()), attr))
}

// xattrError tells a file system without user attributes (ENOTSUP), or a
// value too large for it (E2BIG, ENOSPC), apart from other failures.
func xattrError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOTSUP):
		return errors.Join(errors.ErrUnsupported, err)
	case errors.Is(err, unix.E2BIG), errors.Is(err, unix.ERANGE):
		return errors.Join(ErrNoSpace, err)
	}
	return &os.PathError{Op: "xattr", Path: "", Err: err}
}
