package jobs

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
)

// verifyStaged reads back every Parquet file staged for this version
// before anything is published: each must have a footer that parses, and
// the result and quarantine files the manifest lists must have the size,
// row count and sha256 the writer reported. A write that failed without
// an error (see parquetio.CheckWritten) fails the run here, naming the
// file, instead of publishing a file cut short.
func verifyStaged(dir string, m *report.Manifest) error {
	listed := map[string]*parquetio.WrittenFile{}
	list := func(sub string, files []report.File) {
		for _, f := range output.Written(files) {
			listed[filepath.Join(sub, f.Name)] = &f
		}
	}
	list("", m.Output.Files)
	list(QuarantineDir, m.Output.QuarantineFiles)
	if c := m.Challenger; c != nil {
		list(output.ShadowDir, c.Files)
	}
	if r := m.Review; r != nil {
		list(output.ReviewDir, r.Files)
	}
	if x := m.Explain; x != nil {
		list(output.ExplanationsDir, x.Files)
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".parquet" {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		seen[rel] = true
		return parquetio.CheckWritten(p, listed[rel])
	})
	if err != nil {
		return fmt.Errorf("checking the staged files: %w", err)
	}
	var missing []string
	for rel := range listed {
		if !seen[rel] {
			missing = append(missing, rel)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("checking the staged files: %w: %v written but not in %s", parquetio.ErrIncomplete, missing, dir)
	}
	return nil
}
