package jobs

import "github.com/batchscore/batchscore/io/table"

// ErrLocked marks a (job, date) that another execution is running: the
// table's date lock (io/table, lock.go) is held. Exit code 4.
var ErrLocked = table.ErrLocked
