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
	b := cw.buf[:0]
	i64 := func(v int64) { b = strconv.AppendInt(b, v, 10); b = append(b, ',') }
	f64 := func(v float64) { b = strconv.AppendFloat(b, v, 'g', -1, 64); b = append(b, ',') }
	bl := func(v bool) { b = strconv.AppendBool(b, v); b = append(b, ',') }
	str := func(v string) { b = append(b, v...); b = append(b, ',') }

	i64(c.id)
	str(date)
	i64(int64(c.tenureMonths))
	i64(int64(c.age))
	bl(c.isSenior)
	bl(c.hasPartner)
	i64(int64(c.numDependents))
	f64(c.monthlyCharges)
	f64(c.totalCharges)
	i64(c.numProducts)
	f64(c.avgMonthlyDataGB)
	f64(c.avgCallMinutes)
	f64(c.droppedCallRate)
	f64(c.networkQuality)
	i64(c.numSupportCalls)
	f64(c.techSupportHours)
	f64(c.satisfaction)
	f64(c.latePaymentRatio)
	f64(c.outstandingBalance)
	f64(c.discountPct)
	f64(c.priceIncreasePct)
	f64(c.billVariability)
	bl(c.paperlessBilling)
	bl(c.hasStreaming)
	f64(c.appSessionsPerWeek)
	f64(c.avgSessionMinutes)
	i64(c.daysSinceLastLogin)
	f64(c.emailOpenRate)
	f64(c.creditScore)
	f64(c.householdIncomeK)
	f64(c.distanceToStoreKm)
	f64(c.monthsToContractEnd)
	str(c.contract)
	str(c.payment)
	str(c.region)
	bl(c.churned)
	b[len(b)-1] = '\n'
	cw.buf = b
	if cw.err == nil {
		_, cw.err = cw.w.Write(b)
	}
}

func (cw *csvWriter) flush() error {
	if cw.err != nil {
		return cw.err
	}
	return cw.w.Flush()
}
