// Package crashpoint lets tests kill the process at a named instant of a
// run, the way a power cut or the OOM killer would: no deferred function,
// no signal handler, no flush runs.
//
// BATCHSCORE_CRASHPOINT=name kills the process at the first Hit(name);
// name:N at the Nth. The variable is read once, at start-up; without it
// Hit is one comparison with an empty string.
//
// The points of a run, in the order they are reached:
//
//	opened           the snapshot and the model are open (jobs)
//	checkpointed     a scored chunk was saved for resuming (jobs)
//	staged-chunk     a chunk was handed to a staged result or quarantine file (io/parquetio)
//	staged           every result file is closed and synced (jobs)
//	sql-copy         a chunk was copied into the SQL sink's table, not committed (io/sqlio)
//	publish-renamed  the version is renamed into versions/, current/ not yet switched (io/table)
//	publish-swapped  current/<date> points at the new version, not yet synced (io/table)
//	sql-commit       the SQL rows are about to be committed, still staged (io/sqlio)
//	sql-flip         inside the SQL transaction that makes the version current (io/sqlio)
//	report-temp      a report's temporary file is written, not yet renamed (io/table)
//	manifest         about to write the manifest (jobs)
//	manifest-temp    the manifest's temporary file is written, not yet renamed (io/table)
//	prune-companions retention removed an old execution's reports, not yet its manifest (io/table)
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Env names the variable that arms a crash point.
const Env = "BATCHSCORE_CRASHPOINT"

var (
	armed string // the point's name; "" when disarmed
	nth   int64  = 1
	hits  atomic.Int64
)

func init() { armed, nth = parse(os.Getenv(Env)) }

// parse reads "name" or "name:N"; anything else disarms.
func parse(v string) (string, int64) {
	name, count, ok := strings.Cut(strings.TrimSpace(v), ":")
	if !ok {
		return name, 1
	}
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 || name == "" {
		return "", 1
	}
	return name, n
}

// Hit kills the process with SIGKILL if name is the armed point and this
// is its Nth hit. Safe for concurrent use.
func Hit(name string) {
	if armed != "" {
		hit(name)
	}
}

func hit(name string) {
	if name != armed || hits.Add(1) != nth {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Second) // SIGKILL cannot be caught: it never returns
	}
}
