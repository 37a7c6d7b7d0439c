// Package shard holds what a sharded run needs beyond one execution: the
// shard spec (K/N), the state each shard leaves for the commit beside its
// staged rows, and the commit's checks and merges over every shard's
// state (Disagreements, Merge, Link). The jobs package runs shards and
// commits as executions and assembles what this package returns into the
// commit's manifest.
//
// Contract: a shard's state file is written into its staging folder before
// the folder is parked (io/table), so a parked shard always has whole
// state; nothing here publishes or removes a shard. Errors that name shards
// to run again wrap ErrShards.
package shard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/spec"
)

// Shard is shard Index (0-based) of Count of a sharded run.
type Shard struct{ Index, Count int }

// MaxShards bounds --shard and --shards: more is a typo, not a plan.
const MaxShards = 10000

// ErrShards marks shards that are missing or disagree: nothing is
// published; the shards named are to be run again.
var ErrShards = errors.New("shards not ready")

// Parse reads "K/N", as Kubernetes' JOB_COMPLETION_INDEX and Airflow's
// map_index give K.
func Parse(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	index, kerr := strconv.Atoi(k)
	count, nerr := strconv.Atoi(n)
	if !ok || kerr != nil || nerr != nil || count < 1 || count > MaxShards || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("--shard %q: want K/N with 0 <= K < N <= %d, e.g. 0/4", s, MaxShards)
	}
	return Shard{Index: index, Count: count}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Check refuses what a sharded run (its shards and its commit) cannot do:
// a query without a shard key, and a challenger, shadow or canary. The
// commit merges no shadow table, challenger comparison or canary counts,
// so rather than publish a version whose _shadow files or
// challenger.rollout section are silently missing, both are refused up
// front (exit 2), before any shard stages rows.
func Check(job *spec.Job) error {
	switch {
	case job.Source.SQL != nil && job.Source.SQL.ShardKey == "":
		return spec.ErrorAt("source.sql.shard_key", "--shard splits a query's rows by hashing a key column: name it here")
	case job.Challenger != nil && job.Challenger.Rollout != nil:
		return spec.ErrorAt("challenger.rollout", "a sharded run cannot take a canary: its commit would not merge the _shadow table, "+
			"the challenger's comparison or the canary's counts; run the date without --shard (the canary's keys are the same in any run)")
	case job.Challenger != nil:
		return spec.ErrorAt("challenger", "a sharded run cannot take a shadow challenger: its commit would not merge the _shadow table "+
			"or the comparison (whose rank statistics need every row in one process); run the date without --shard")
	}
	return nil
}

// CheckKey holds a query's shard key to types whose text form, which the
// database hashes, does not depend on session settings (time zones, float
// digits): integers, strings and dates.
func CheckKey(schema *arrow.Schema, key string) error {
	idx := schema.FieldIndices(key)
	if len(idx) == 0 {
		return spec.ErrorAt("source.sql.shard_key", "the query has no column %q", key)
	}
	switch t := schema.Field(idx[0]).Type; t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.DATE32, arrow.DATE64:
		return nil
	default:
		return spec.ErrorAt("source.sql.shard_key", "column %q is %s: a shard key must be an integer, a string or a date", key, t)
	}
}
