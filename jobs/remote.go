package jobs

import (
	"os"
	"path/filepath"

	"github.com/batchscore/batchscore/io/table"
)

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
