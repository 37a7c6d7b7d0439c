package sqlio

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/jackc/pgx/v5/pgtype"
)

// appendValue appends one driver value (database/sql's int64, float64,
// []byte, string, bool, time.Time, or pgx's decoded values) to a builder
// of kind k. Text from drivers that send numbers and dates as text (MySQL's
// text protocol, SQLite's dynamic typing) is parsed; a value that does not
// fit is an ErrType naming it.
func appendValue(fb array.Builder, k kind, v any) error {
	if v == nil {
		fb.AppendNull()
		return nil
	}
	switch k {
	case kInt8, kInt16, kInt32, kInt64:
		return appendInt(fb, v)
	case kUint8, kUint16, kUint32, kUint64:
		return appendUint(fb, v)
	case kFloat32, kFloat64:
		f, err := toFloat64(v)
		if err != nil {
			return err
		}
		if b, ok := fb.(*array.Float32Builder); ok {
			b.Append(float32(f))
		} else {
			fb.(*array.Float64Builder).Append(f)
		}
	case kNumeric:
		return appendNumericValue(fb, v)
	case kText:
		b := fb.(*array.StringBuilder)
		switch x := v.(type) {
		case string:
			b.Append(x)
		case []byte:
			b.BinaryBuilder.Append(x)
		default:
			return fmt.Errorf("%w: %v (%T) is not text", ErrType, v, v)
		}
	case kBool:
		t, err := toBool(v)
		if err != nil {
			return err
		}
		fb.(*array.BooleanBuilder).Append(t)
	case kDate:
		t, err := toTime(v, "2006-01-02")
		if err != nil {
			return err
		}
		days := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
		fb.(*array.Date32Builder).Append(arrow.Date32(days))
	case kTimestamp:
		t, err := toTime(v, "2006-01-02 15:04:05.999999")
		if err != nil {
			return err
		}
		// A timestamp without a zone is its wall clock, whatever zone the
		// driver parsed it in.
		wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
		fb.(*array.TimestampBuilder).Append(arrow.Timestamp(wall.UnixMicro()))
	case kTimestampTZ:
		t, err := toTime(v, "2006-01-02 15:04:05.999999")
		if err != nil {
			return err
		}
		fb.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
	default:
		return fmt.Errorf("%w: kind %d", ErrType, k)
	}
	return nil
}

// appendInt appends a signed integer, checking that it fits the builder's
// width (a MySQL TINYINT read as int8, for one).
func appendInt(fb array.Builder, v any) error {
	i, err := toInt64(v)
	if err != nil {
		return err
	}
	switch b := fb.(type) {
	case *array.Int8Builder:
		if i < math.MinInt8 || i > math.MaxInt8 {
			return fmt.Errorf("%w: %d does not fit int8", ErrType, i)
		}
		b.Append(int8(i))
	case *array.Int16Builder:
		if i < math.MinInt16 || i > math.MaxInt16 {
			return fmt.Errorf("%w: %d does not fit int16", ErrType, i)
		}
		b.Append(int16(i))
	case *array.Int32Builder:
		if i < math.MinInt32 || i > math.MaxInt32 {
			return fmt.Errorf("%w: %d does not fit int32", ErrType, i)
		}
		b.Append(int32(i))
	case *array.Int64Builder:
		b.Append(i)
	}
	return nil
}

// appendUint is appendInt for MySQL's unsigned integers.
func appendUint(fb array.Builder, v any) error {
	u, err := toUint64(v)
	if err != nil {
		return err
	}
	switch b := fb.(type) {
	case *array.Uint8Builder:
		if u > math.MaxUint8 {
			return fmt.Errorf("%w: %d does not fit uint8", ErrType, u)
		}
		b.Append(uint8(u))
	case *array.Uint16Builder:
		if u > math.MaxUint16 {
			return fmt.Errorf("%w: %d does not fit uint16", ErrType, u)
		}
		b.Append(uint16(u))
	case *array.Uint32Builder:
		if u > math.MaxUint32 {
			return fmt.Errorf("%w: %d does not fit uint32", ErrType, u)
		}
		b.Append(uint32(u))
	case *array.Uint64Builder:
		b.Append(u)
	}
	return nil
}

// appendNumericValue appends a numeric as decimal128 when the builder is one
// (exact, from the value's text), else as float64.
func appendNumericValue(fb array.Builder, v any) error {
	if b, ok := fb.(*array.Decimal128Builder); ok {
		dt := b.Type().(*arrow.Decimal128Type)
		s, err := toDecimalText(v)
		if err != nil {
			return err
		}
		n, err := decimal128.FromString(s, dt.Precision, dt.Scale)
		if err != nil {
			return fmt.Errorf("%w: %s does not fit %s: %v", ErrType, s, dt, err)
		}
		b.Append(n)
		return nil
	}
	f, err := toFloat64(v)
	if err != nil {
		return err
	}
	fb.(*array.Float64Builder).Append(f)
	return nil
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%w: %d does not fit int64", ErrType, x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<63 {
			return 0, fmt.Errorf("%w: %v is not an integer", ErrType, x)
		}
		return int64(x), nil
	case []byte:
		return parseInt(string(x))
	case string:
		return parseInt(x)
	}
	return 0, fmt.Errorf("%w: %v (%T) is not an integer", ErrType, v, v)
}

func parseInt(s string) (int64, error) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer", ErrType, s)
	}
	return i, nil
}

func toUint64(v any) (uint64, error) {
	switch x := v.(type) {
	case uint64:
		return x, nil
	case []byte:
		return parseUint(string(x))
	case string:
		return parseUint(x)
	}
	i, err := toInt64(v)
	if err != nil {
		return 0, err
	}
	if i < 0 {
		return 0, fmt.Errorf("%w: %d is negative", ErrType, i)
	}
	return uint64(i), nil
}

func parseUint(s string) (uint64, error) {
	u, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an unsigned integer", ErrType, s)
	}
	return u, nil
}

func toFloat64(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrType, err)
		}
		return f.Float64, nil
	case []byte:
		return parseFloat(string(x))
	case string:
		return parseFloat(x)
	}
	return 0, fmt.Errorf("%w: %v (%T) is not a number", ErrType, v, v)
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a number", ErrType, s)
	}
	return f, nil
}

// toDecimalText renders a numeric value as decimal text for
// decimal128.FromString, which rounds it to the column's scale.
func toDecimalText(v any) (string, error) {
	switch x := v.(type) {
	case []byte:
		return strings.TrimSpace(string(x)), nil
	case string:
		return strings.TrimSpace(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%w: %v (%T) is not a decimal", ErrType, v, v)
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case []byte, string:
		var s string
		if b, ok := x.([]byte); ok {
			s = string(b)
		} else {
			s = x.(string)
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "t", "true", "y", "yes":
			return true, nil
		case "0", "f", "false", "n", "no":
			return false, nil
		}
	}
	return false, fmt.Errorf("%w: %v (%T) is not a boolean", ErrType, v, v)
}

// toTime takes a time.Time, or text in layout (a date) or RFC 3339.
func toTime(v any, layout string) (time.Time, error) {
	var s string
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case []byte:
		s = string(x)
	case string:
		s = x
	default:
		return time.Time{}, fmt.Errorf("%w: %v (%T) is not a date or time", ErrType, v, v)
	}
	s = strings.TrimSpace(s)
	for _, l := range []string{layout, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a date or time", ErrType, s)
}

var bigTen = big.NewInt(10)

// appendNumeric appends a PostgreSQL numeric as float64 (dec nil) or as
// decimal128 at dec's scale; a value with more digits than the scale (which
// numeric(p, s) never holds) or NaN/Infinity in decimal mode is an error.
func appendNumeric(fb array.Builder, n pgtype.Numeric, dec *arrow.Decimal128Type) error {
	if dec == nil {
		f, err := n.Float64Value()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrType, err)
		}
		fb.(*array.Float64Builder).Append(f.Float64)
		return nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("%w: NaN or infinite numeric in a decimal column", ErrType)
	}
	v := new(big.Int).Set(n.Int)
	e := int64(n.Exp) + int64(dec.Scale)
	switch {
	case e > 0:
		v.Mul(v, new(big.Int).Exp(bigTen, big.NewInt(e), nil))
	case e < 0:
		r := new(big.Int)
		v.QuoRem(v, new(big.Int).Exp(bigTen, big.NewInt(-e), nil), r)
		if r.Sign() != 0 {
			return fmt.Errorf("%w: numeric value has more than %d decimals", ErrType, dec.Scale)
		}
	}
	if v.BitLen() > 127 {
		return fmt.Errorf("%w: numeric value does not fit %s", ErrType, dec)
	}
	num := decimal128.FromBigInt(v)
	if !num.FitsInPrecision(dec.Precision) {
		return fmt.Errorf("%w: numeric value does not fit %s", ErrType, dec)
	}
	fb.(*array.Decimal128Builder).Append(num)
	return nil
}
