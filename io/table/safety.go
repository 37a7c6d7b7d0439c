package table

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

var (
	// errOutside marks a folder of the table that resolves outside its
	// root, through a symlink planted in the table. Nothing is written
	// through it.
	errOutside = errors.New("resolves outside the result table; refusing to write through it")
	// errBadName marks a date, version or file name that is not one plain
	// path element ("..", "a/b").
	errBadName = errors.New("not a plain name")
)

// checkName refuses names that would leave their folder.
func checkName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("%s %q: %w", what, name, errBadName)
	}
	return nil
}

// dir returns the folder <root>/<parts...> after checking that each part is
// a folder inside the table: a real one, or a symlink that resolves inside
// the root. With create, missing parts are made (DirMode); without, a
// missing part ends the check (nothing below it can lead anywhere).
//
// The check runs before each write, not atomically with it: it stops a
// misconfiguration or a planted link, not someone racing batchscore with
// write access to the table, who could change the data directly anyway.
func (t *Table) dir(create bool, parts ...string) (string, error) {
	root, err := filepath.EvalSymlinks(t.Root)
	if err != nil {
		return "", fmt.Errorf("result table %s: %w", t.Root, err)
	}
	p := t.Root
	for i, part := range parts {
		if err := checkName("folder", part); err != nil {
			return "", err
		}
		p = filepath.Join(p, part)
		rel := filepath.Join(parts[:i+1]...)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if !create {
				return filepath.Join(append([]string{p}, parts[i+1:]...)...), nil
			}
			if err := os.Mkdir(p, DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("result table %s: %w", t.Root, err)
			}
			fi, err = os.Lstat(p) // made here, or by a concurrent execution
		}
		if err != nil {
			return "", fmt.Errorf("result table %s: %w", t.Root, err)
		}
		if err := t.checkFolder(root, p, rel, fi); err != nil {
			return "", err
		}
	}
	return p, nil
}

// checkFolder checks one entry of the table that must be a folder inside
// the (resolved) root.
func (t *Table) checkFolder(root, path, rel string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink == 0 {
		if !fi.IsDir() {
			return fmt.Errorf("result table %s: %s is not a folder", t.Root, rel)
		}
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("result table %s: %s is a symlink that cannot be followed: %w", t.Root, rel, err)
	}
	if !within(root, real) {
		return fmt.Errorf("result table %s: %s is a symlink to %s, which %w", t.Root, rel, real, errOutside)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return fmt.Errorf("result table %s: %s is a symlink to %s, not to a folder", t.Root, rel, real)
	}
	return nil
}

// checkEntries checks every symlink directly under <root>/<sub>.
func (t *Table) checkEntries(sub string) error {
	root, err := filepath.EvalSymlinks(t.Root)
	if err != nil {
		return fmt.Errorf("result table %s: %w", t.Root, err)
	}
	entries, err := os.ReadDir(filepath.Join(t.Root, sub))
	if err != nil {
		return fmt.Errorf("result table %s: %w", t.Root, err)
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		p := filepath.Join(t.Root, sub, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("result table %s: %w", t.Root, err)
		}
		if err := t.checkFolder(root, p, filepath.Join(sub, e.Name()), fi); err != nil {
			return err
		}
	}
	return nil
}

// within says whether path is root or below it; both are resolved.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// restrict takes group write and every bit for others off the folders and
// files under dir: whoever staged them (and with whatever umask), a
// published version is DirMode and FileMode at most. Symlinks are left
// alone; nothing is followed.
func restrict(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 || (!d.IsDir() && !d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		limit := FileMode
		if d.IsDir() {
			limit = DirMode
		}
		if perm := info.Mode().Perm(); perm&^limit != 0 {
			return os.Chmod(p, perm&limit)
		}
		return nil
	})
}
