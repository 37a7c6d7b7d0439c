package trends

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/batchscore/batchscore/internal/atomicfile"
	"github.com/batchscore/batchscore/io/table"
)

// WriteSite writes the static site of jobs into dir: index.html (the jobs
// list), jobs/<name>/index.html (a job's page) and, beside each job page,
// runs/<date>/ with a copy of every listed execution's manifest and
// report (a manifest in its public form: publicManifest) and of the
// outcomes files evaluated, so that every link resolves
// offline. A copy whose source has the same size and modification time is
// left as it is. It returns how many files it wrote.
func WriteSite(dir string, jobs []*Job) (int, error) {
	written := 0
	entries := make([]IndexEntry, 0, len(jobs))
	for _, j := range jobs {
		n, err := writeJobSite(filepath.Join(dir, "jobs", j.Name), j)
		written += n
		if err != nil {
			return written, err
		}
		entries = append(entries, IndexEntry{Name: j.Name, Job: j})
	}
	var b bytes.Buffer
	if err := WriteIndex(&b, entries); err != nil {
		return written, err
	}
	if err := writeFile(filepath.Join(dir, "index.html"), b.Bytes()); err != nil {
		return written, err
	}
	return written + 1, nil
}

func writeJobSite(dir string, j *Job) (int, error) {
	written := 0
	t := &table.Table{Root: j.root}
	for _, r := range j.Runs {
		for _, suffix := range r.Files {
			dst := filepath.Join(dir, "runs", r.Date, r.Version+suffix)
			if suffix == ".json" {
				data, err := publicManifest(t, r.Date, r.Version)
				if err != nil {
					return written, fmt.Errorf("copying a run's record: %w", err)
				}
				n, err := writeIfChanged(dst, data)
				written += n
				if err != nil {
					return written, err
				}
				continue
			}
			n, err := copyFile(t.RunFile(r.Date, r.Version, suffix), dst)
			written += n
			if err != nil {
				return written, err
			}
		}
	}
	for _, d := range j.Days {
		if o := d.Outcome; o != nil {
			files := []string{o.File}
			if o.HTML {
				files = append(files, outcomesHTML(o.File))
			}
			for _, f := range files {
				n, err := copyFile(filepath.Join(j.root, "runs", d.Date, f), filepath.Join(dir, "runs", d.Date, f))
				written += n
				if err != nil {
					return written, err
				}
			}
		}
	}
	var b bytes.Buffer
	if err := WriteJob(&b, j); err != nil {
		return written, err
	}
	if err := writeFile(filepath.Join(dir, "index.html"), b.Bytes()); err != nil {
		return written, err
	}
	return written + 1, nil
}

// copyFile copies src to dst unless dst has src's size and time already.
func copyFile(src, dst string) (int, error) {
	si, err := os.Stat(src)
	if err != nil {
		return 0, fmt.Errorf("copying a run's record: %w", err)
	}
	if di, err := os.Stat(dst); err == nil && di.Size() == si.Size() && di.ModTime().Equal(si.ModTime()) {
		return 0, nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return 0, fmt.Errorf("copying a run's record: %w", err)
	}
	if err := writeFile(dst, data); err != nil {
		return 0, err
	}
	if err := os.Chtimes(dst, si.ModTime(), si.ModTime()); err != nil {
		return 1, fmt.Errorf("copying a run's record: %w", err)
	}
	return 1, nil
}

// writeFile replaces path whole; the site's files are the runs' records,
// readable by the table's owner and group as in the table.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), table.DirMode); err != nil {
		return fmt.Errorf("writing the trends site: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, atomicfile.WithMode(table.FileMode), atomicfile.WithoutSync()); err != nil {
		return fmt.Errorf("writing the trends site: %w", err)
	}
	return nil
}
