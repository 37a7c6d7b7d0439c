package output

import (
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs/report"
)

// Files converts written files to the manifest's own type: the manifest's
// JSON does not follow parquetio's.
func Files(ws []parquetio.WrittenFile) []report.File {
	if ws == nil {
		return nil
	}
	out := make([]report.File, len(ws))
	for i, w := range ws {
		out[i] = report.File{Name: w.Name, Rows: w.Rows, Bytes: w.Bytes, SHA256: w.SHA256}
	}
	return out
}

// Written converts a manifest's files back, to check them against the
// files on disk (parquetio.CheckWritten).
func Written(fs []report.File) []parquetio.WrittenFile {
	if fs == nil {
		return nil
	}
	out := make([]parquetio.WrittenFile, len(fs))
	for i, f := range fs {
		out[i] = parquetio.WrittenFile{Name: f.Name, Rows: f.Rows, Bytes: f.Bytes, SHA256: f.SHA256}
	}
	return out
}
