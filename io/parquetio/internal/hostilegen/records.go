package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var mem = memory.DefaultAllocator

// mixSchema has one column of each flat type a snapshot carries.
var mixSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

var words = strings.Fields("north south east west central month_to_month one_year two_year electronic_check mailed_check")

// mixRecord draws n rows of mixSchema; about one value in ten is null.
func mixRecord(n int, seed uint64) arrow.Record {
	r := rand.New(rand.NewPCG(seed, 1))
	b := array.NewRecordBuilder(mem, mixSchema)
	defer b.Release()
	null := func(f int) bool {
		if r.IntN(10) == 0 {
			b.Field(f).AppendNull()
			return true
		}
		return false
	}
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(1_000_000 + i))
		if !null(1) {
			b.Field(1).(*array.Int32Builder).Append(int32(r.IntN(100)))
		}
		if !null(2) {
			b.Field(2).(*array.Int64Builder).Append(r.Int64N(1<<40) - 1<<39)
		}
		if !null(3) {
			b.Field(3).(*array.Float32Builder).Append(float32(r.NormFloat64()))
		}
		if !null(4) {
			b.Field(4).(*array.Float64Builder).Append(math.Round(r.Float64()*1e4) / 100)
		}
		if !null(5) {
			b.Field(5).(*array.BooleanBuilder).Append(r.IntN(3) == 0)
		}
		if !null(6) {
			b.Field(6).(*array.StringBuilder).Append(words[r.IntN(len(words))])
		}
		if !null(7) {
			b.Field(7).(*array.BinaryBuilder).Append(fmt.Appendf(nil, "%x", r.Uint32()))
		}
		if !null(8) {
			b.Field(8).(*array.Date32Builder).Append(arrow.Date32(20_000 + r.IntN(500)))
		}
		if !null(9) {
			b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + r.Int64N(1e13)))
		}
	}
	return b.NewRecord()
}

// fromJSON builds a record from JSON rows: the simplest way to spell nested values.
func fromJSON(schema *arrow.Schema, rows string) arrow.Record {
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		panic(fmt.Sprintf("record from JSON: %v", err))
	}
	return rec
}
