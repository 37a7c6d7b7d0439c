package jobs

import (
	"os"
	"path/filepath"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/spec"
)

// checkRemote refuses what a table on object storage cannot do yet.
func checkRemote(job *spec.Job) error {
	if !table.IsRemote(job.Output.Table) {
		return nil
	}
	if f := job.Fallback; f != nil && f.Kind == spec.FallbackCarryForward {
		return spec.ErrorAt("fallback.kind", "carry_forward reads the previous version's files, which a table on object storage keeps in the bucket: not supported yet; use constant or model")
	}
	return nil
}

// failedTable is where the manifest of a run whose table could not be
// opened goes: the table's local folder (for a table on object storage,
// its work folder on this machine).
func failedTable(root string) *table.Table {
	local, err := table.LocalRoot(root)
	if err != nil {
		local = filepath.Join(os.TempDir(), "batchscore-unopened-table")
	}
	return &table.Table{Root: local}
}
