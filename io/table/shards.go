package table

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Shards of a sharded run wait for their commit in
//
//	<table>/_shards/<date>/of-<n>/shard-<k>/   one folder per shard, replaced by a retry
//
// where no reader looks. The commit links their files into a staged
// version, publishes it as usual and removes the date's of-<n> folder.

// ShardDir is where shard k of n keeps its files until the commit; the
// folder may not exist.
func (t *Table) ShardDir(date string, n, k int) (string, error) {
	if err := checkName("date", date); err != nil {
		return "", err
	}
	return t.dir(false, "_shards", date, "of-"+strconv.Itoa(n), "shard-"+strconv.Itoa(k))
}

// ParkShard moves a staged folder to shard k of n's place, replacing what
// an earlier attempt of the shard left there. A crash between the two
// renames leaves the shard missing, which the commit names: the shard is
// run again. For a remote table the folder is uploaded too, the file named
// last after the others: the commit takes a shard whose last file is there.
func (t *Table) ParkShard(version, date string, n, k int, last string) (string, error) {
	if err := errors.Join(checkName("date", date), checkName("version", version)); err != nil {
		return "", err
	}
	staging, err := t.dir(false, "_staging")
	if err != nil {
		return "", err
	}
	staged := filepath.Join(staging, version)
	if err := restrict(staged); err != nil {
		return "", fmt.Errorf("parking shard %d of %d: %w", k, n, err)
	}
	if err := syncDir(staged); err != nil {
		return "", fmt.Errorf("parking shard %d of %d: %w", k, n, err)
	}
	parent, err := t.dir(true, "_shards", date, "of-"+strconv.Itoa(n))
	if err != nil {
		return "", err
	}
	dst := filepath.Join(parent, "shard-"+strconv.Itoa(k))
	if _, err := os.Lstat(dst); err == nil {
		old := staged + "-replaced"
		if err := os.Rename(dst, old); err != nil {
			return "", fmt.Errorf("parking shard %d of %d: %w", k, n, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(staged, dst); err != nil {
		return "", fmt.Errorf("parking shard %d of %d: %w", k, n, err)
	}
	if err := errors.Join(syncDir(parent), syncDir(staging)); err != nil {
		return "", err
	}
	where, err := t.store().ShareShard(context.Background(), date, n, k, dst, last)
	if err != nil {
		return "", fmt.Errorf("parking shard %d of %d: %w", k, n, err)
	}
	return where, nil
}

// DropShards removes a date's shard folders of n, once committed.
func (t *Table) DropShards(date string, n int) error {
	if err := checkName("date", date); err != nil {
		return err
	}
	dir, err := t.dir(false, "_shards", date)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, "of-"+strconv.Itoa(n))); err != nil {
		return err
	}
	os.Remove(dir) // only when empty: other counts' shards may still wait
	return t.store().DropShards(context.Background(), date, n)
}

// PullShards replaces the local shard folders of a date's n shards with
// the store's, for a commit on another machine than its shards; a no-op
// for a local table, whose folders are the shards.
func (t *Table) PullShards(date string, n int, last string) error {
	if err := checkName("date", date); err != nil {
		return err
	}
	return t.store().PullShards(context.Background(), date, n, last)
}
