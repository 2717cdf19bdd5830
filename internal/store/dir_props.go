package store

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// propsAttr is the extended attribute that holds a file's or directory's
// dead properties, so that they live and die with it: rename moves them,
// unlink removes them, and no side file can go stale.
const propsAttr = "user.httpbox.props"

// Props implements Backend.
func (d *Dir) Props(_ context.Context, name string) ([]Prop, error) {
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, dirError(err)
	}
	defer f.Close()
	return readProps(f)
}

// PatchProps implements Backend, under the name's lock: two patches of
// one name never lose each other's changes.
func (d *Dir) PatchProps(_ context.Context, name string, set []Prop, remove []xml.Name) error {
	mu := d.nameLock(name)
	mu.Lock()
	defer mu.Unlock()
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return dirError(err)
	}
	defer f.Close()
	props, err := readProps(f)
	if err != nil {
		return err
	}
	return writeProps(f, patchProps(props, set, remove))
}

// copyProps gives dst the dead properties of src.
func (d *Dir) copyProps(src, dst string) error {
	props, err := d.Props(context.Background(), src)
	if err != nil || len(props) == 0 {
		return err
	}
	f, err := d.root.OpenFile(dst, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return dirError(err)
	}
	defer f.Close()
	return writeProps(f, props)
}

func readProps(f *os.File) ([]Prop, error) {
	data, err := getXattr(f, propsAttr)
	switch {
	case errors.Is(err, errNoAttr), errors.Is(err, errors.ErrUnsupported):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read properties of %s: %w", f.Name(), dirError(err))
	}
	var props []Prop
	if err := json.Unmarshal(data, &props); err != nil {
		return nil, fmt.Errorf("read properties of %s: %w", f.Name(), err)
	}
	return props, nil
}

func writeProps(f *os.File, props []Prop) error {
	var err error
	if len(props) == 0 {
		err = removeXattr(f, propsAttr)
		if errors.Is(err, errNoAttr) || errors.Is(err, errors.ErrUnsupported) {
			err = nil
		}
	} else {
		var data []byte
		if data, err = json.Marshal(props); err == nil {
			err = setXattr(f, propsAttr, data)
		}
	}
	if err != nil {
		return fmt.Errorf("write properties of %s: %w", f.Name(), dirError(err))
	}
	return nil
}
