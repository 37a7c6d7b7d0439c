package main

import (
	"bufio"
	"io"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
)

// csvWriter writes the same rows as the Parquet file as CSV: a header with
// the column names, dates as YYYY-MM-DD, booleans as true/false, floats with
// strconv.FormatFloat(v, 'g', -1, 64) so they parse back to the identical
// float64. No value needs quoting.
type csvWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func newCSVWriter(w io.Writer) *csvWriter {
	return &csvWriter{w: bufio.NewWriterSize(w, 1<<20)}
}

func (cw *csvWriter) header(s *arrow.Schema) error {
	for i, f := range s.Fields() {
		if i > 0 {
			cw.w.WriteByte(',')
		}
		cw.w.WriteString(f.Name)
	}
	_, err := cw.w.WriteString("\n")
	return err
}

func (cw *csvWriter) row(c *customer, date string) {
	r := csvRow{b: cw.buf[:0], date: date}
	c.visit(&r)
	r.b[len(r.b)-1] = '\n'
	cw.buf = r.b
	if cw.err == nil {
		_, cw.err = cw.w.Write(r.b)
	}
}

// csvRow appends each visited value and a comma.
type csvRow struct {
	b    []byte
	date string
}

func (r *csvRow) snapshotDate() { r.b = append(append(r.b, r.date...), ',') }
func (r *csvRow) i32(v int32)   { r.i64(int64(v)) }
func (r *csvRow) i64(v int64)   { r.b = append(strconv.AppendInt(r.b, v, 10), ',') }
func (r *csvRow) f64(v float64) { r.b = append(strconv.AppendFloat(r.b, v, 'g', -1, 64), ',') }
func (r *csvRow) bool(v bool)   { r.b = append(strconv.AppendBool(r.b, v), ',') }
func (r *csvRow) str(v string)  { r.b = append(append(r.b, v...), ',') }

func (cw *csvWriter) flush() error {
	if cw.err != nil {
		return cw.err
	}
	return cw.w.Flush()
}
