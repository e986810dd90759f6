// Package atomicfile replaces files so that a reader sees the old content
// or the new one, never a part, and a failed write leaves nothing behind:
// not a truncated file and not the temporary one (a disk that filled up
// mid-write used to leave 0-byte NAME.tmp files and a success).
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, made with perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with what fill writes: into a temporary file beside
// it, synced, renamed over path, and the directory synced so the rename
// itself survives a crash. On any error the temporary file is removed,
// path is left as it was, and the error (with ENOSPC or EDQUOT intact for
// errors.Is) is returned.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("replace %s: %w", path, err)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	// Sync before the rename: otherwise a crash can leave path renamed
	// to a file whose blocks never reached the disk (empty after boot),
	// and on filesystems that allocate late this is where ENOSPC shows.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil // renamed; only the durability of the rename is unsure
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}
