//go:build !linux

package store

import (
	"errors"
	"os"
)

// Elsewhere than on Linux, dead properties are not stored: reading finds
// none, and setting one is unsupported.
var errNoAttr = errors.New("no such attribute")

func getXattr(*os.File, string) ([]byte, error) { return nil, errNoAttr }
func setXattr(*os.File, string, []byte) error   { return errors.ErrUnsupported }
func removeXattr(*os.File, string) error        { return errNoAttr }
