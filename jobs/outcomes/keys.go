package outcomes

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/jobs/keyhash"
)

// keyHasher hashes both sides' keys alike (any constant seed works);
// dates and timestamps by their day and instant, so that a label file's
// date32 joins the result table's date64, and timestamps of any unit join.
var keyHasher = keyhash.Hasher{Seed: 0x6f7574636f6d6573, Instants: true}

// keyKind is what a key column's values are, whatever their width:
// int32 labels join int64 scores, a string never joins an integer.
func keyKind(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return "integer"
	case arrow.FLOAT32, arrow.FLOAT64:
		return "float"
	case arrow.STRING, arrow.LARGE_STRING:
		return "string"
	case arrow.DICTIONARY:
		if keyKind(t.(*arrow.DictionaryType).ValueType) == "string" {
			return "string"
		}
	case arrow.BOOL:
		return "boolean"
	case arrow.DATE32, arrow.DATE64:
		return "date"
	case arrow.TIMESTAMP:
		return "timestamp"
	}
	return ""
}

// hashKeys hashes each row's key tuple into h (len = rows); null[i] says
// row i has a null key part (null is nil when none has).
func hashKeys(rec arrow.Record, keys []string, h []uint64) (null []bool, err error) {
	cols := make([]arrow.Array, len(keys))
	for j, k := range keys {
		idx := rec.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("key column %q is missing", k)
		}
		cols[j] = rec.Column(idx[0])
	}
	null, err = keyHasher.Rows(cols, h)
	var te *keyhash.TypeError
	if errors.As(err, &te) {
		return nil, fmt.Errorf("key column %q: %w", keys[te.Column], err)
	}
	return null, err
}

// valueString renders one value for messages and segment names.
func valueString(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "(null)"
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Dictionary:
		return valueString(a.Dictionary(), a.GetValueIndex(i))
	}
	return col.ValueStr(i)
}
