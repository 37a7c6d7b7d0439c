package parquetio

import "fmt"

// ShardPart is the part of one file a shard reads.
type ShardPart struct {
	File      string `json:"file"` // File.Name
	RowGroups []int  `json:"row_groups"`
	Rows      int64  `json:"rows"`
}

// Shard restricts the source to shard index (0-based) of count: the
// (file, row group) units in read order are cut into count contiguous
// ranges of about equal rows. A unit goes to the shard its first row falls
// in, so every unit lands in exactly one shard and the cut is a pure
// function of the footers: a retried shard reads the same rows, and
// shards 0..count-1 one after the other read the snapshot in its order.
// A shard may be empty when there are fewer units than shards.
func (s *Source) Shard(index, count int) ([]ShardPart, error) {
	if count < 1 || index < 0 || index >= count {
		return nil, fmt.Errorf("shard %d of %d: the index must be in 0..%d", index, count, count-1)
	}
	var total int64
	for _, f := range s.files {
		total += f.Rows
	}
	var parts []ShardPart
	var start int64
	for i := range s.files {
		f := &s.files[i]
		f.groups = []int{}
		part := ShardPart{File: f.Name}
		for rg, n := range f.groupRows {
			if shardOf(start, total, count) == index {
				f.groups = append(f.groups, rg)
				part.RowGroups = append(part.RowGroups, rg)
				part.Rows += n
			}
			start += n
		}
		if len(part.RowGroups) > 0 {
			parts = append(parts, part)
		}
	}
	return parts, nil
}

// shardOf is the shard whose range [k·total/count, (k+1)·total/count)
// holds row start.
func shardOf(start, total int64, count int) int {
	if total == 0 {
		return 0
	}
	// start < total, count small: start*count fits in int64 for any
	// snapshot under 2^63/count rows.
	return int(start * int64(count) / total)
}

// readRows is how many rows Read takes from the file.
func (f *File) readRows() int64 {
	if f.groups == nil {
		return f.Rows
	}
	var n int64
	for _, rg := range f.groups {
		n += f.groupRows[rg]
	}
	return n
}

// reads says whether Read takes row group rg.
func (f *File) reads(rg int) bool {
	if f.groups == nil {
		return true
	}
	for _, g := range f.groups {
		if g == rg {
			return true
		}
	}
	return false
}
