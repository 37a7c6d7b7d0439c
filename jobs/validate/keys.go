package validate

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/jobs/keyhash"
)

// keyHashes hashes each row's unique key tuple (jobs/keyhash) and counts
// the rows whose key has a null part. Integers hash by value whatever
// their width, so int32 and int64 files of one snapshot agree. As in
// SQL's UNIQUE, a key with a null is equal to no other key: its row gets
// no hash, and a not_null rule on the key decides about it.
func (e *Engine) keyHashes(rec arrow.Record) ([]uint64, int64, error) {
	cols := make([]arrow.Array, len(e.unique))
	for j, k := range e.unique {
		idx := rec.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, 0, fmt.Errorf("%w: unique key column %q is missing from this chunk", ErrSchema, k)
		}
		cols[j] = rec.Column(idx[0])
	}
	n := int(rec.NumRows())
	h := make([]uint64, n)
	null, err := e.keyHasher().Rows(cols, h)
	if err != nil {
		var te *keyhash.TypeError
		if errors.As(err, &te) {
			return nil, 0, fmt.Errorf("unique key column %q: %w", e.unique[te.Column], err)
		}
		return nil, 0, err
	}
	if null == nil {
		return h, 0, nil
	}
	kept := h[:0]
	for i, v := range h {
		if !null[i] {
			kept = append(kept, v)
		}
	}
	return kept, int64(n - len(kept)), nil
}

// keyHasher hashes the unique keys with the run's seed, date64 and
// timestamp values by the integer they store.
func (e *Engine) keyHasher() keyhash.Hasher { return keyhash.Hasher{Seed: e.seed} }

// maxDate is the newest non-null value of the freshness column among the
// rows not rejected: dates at midnight UTC, zoned timestamps in the
// logical date's location, naive timestamps as UTC wall clocks.
func (e *Engine) maxDate(rec arrow.Record, reject []uint64) (*time.Time, error) {
	idx := rec.Schema().FieldIndices(e.fresh)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: freshness column %q is missing from this chunk", ErrSchema, e.fresh)
	}
	col := rec.Column(idx[0])
	best, found := int64(math.MinInt64), false
	take := func(i int, v int64) {
		if col.IsValid(i) && (!found || v > best) && reject[i/64]&(1<<(uint(i)%64)) == 0 {
			best, found = v, true
		}
	}
	var t time.Time
	switch a := col.(type) {
	case *array.Date32:
		for i, v := range a.Date32Values() {
			take(i, int64(v))
		}
		t = time.Unix(best*86400, 0).UTC()
	case *array.Date64:
		for i, v := range a.Date64Values() {
			take(i, int64(v))
		}
		t = time.UnixMilli(best).UTC()
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			take(i, int64(v))
		}
		ts := a.DataType().(*arrow.TimestampType)
		t = arrow.Timestamp(best).ToTime(ts.Unit)
		if ts.TimeZone != "" {
			t = t.In(e.logical.Location())
		}
	default:
		return nil, fmt.Errorf("freshness column %q has type %s, not a date or timestamp", e.fresh, col.DataType())
	}
	if !found {
		return nil, nil
	}
	return &t, nil
}
