package sqlio

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/jackc/pgx/v5/pgtype"
)

// A decimal128(p, s) result column (a numeric read with decimal: decimal)
// keeps its exact value in every sink:
//
//	PostgreSQL  numeric(p,s)
//	MySQL       DECIMAL(p,s)   (MySQL allows a scale of at most 30)
//	SQLite      TEXT, the exact decimal ("-12.3400"): SQLite has no decimal
//	            type, and its NUMERIC affinity keeps 15 significant digits
//
// An existing table's column must have the same precision and scale.

// mysqlMaxScale is DECIMAL's largest scale in MySQL.
const mysqlMaxScale = 30

// decimalColumnType is columnType for a decimal128.
func decimalColumnType(d sinkDialect, dt *arrow.Decimal128Type) (ddl, catalog string, err error) {
	p, s := dt.Precision, dt.Scale
	if p < 1 || p > 38 || s < 0 || s > p {
		return "", "", fmt.Errorf("type %s: want a precision of 1 to 38 and a scale of 0 to the precision", dt)
	}
	switch d {
	case sinkPostgres:
		t := fmt.Sprintf("numeric(%d,%d)", p, s)
		return t, t, nil
	case sinkMySQL:
		if s > mysqlMaxScale {
			return "", "", fmt.Errorf("type %s: MySQL's DECIMAL has a scale of at most %d; cast the column in the query", dt, mysqlMaxScale)
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", p, s), fmt.Sprintf("decimal(%d,%d)", p, s), nil
	}
	return "TEXT", sinkAffinity("TEXT"), nil
}

// decimalValues is columnValues for a decimal128 column: pgtype.Numeric
// for pgx, the exact decimal text for MySQL and SQLite.
func decimalValues(d sinkDialect, c *array.Decimal128) valueFunc {
	scale := c.DataType().(*arrow.Decimal128Type).Scale
	if d == sinkPostgres {
		return func(i int) any {
			return pgtype.Numeric{Int: c.Value(i).BigInt(), Exp: -scale, Valid: true}
		}
	}
	return func(i int) any { return decimalText(c.Value(i), scale) }
}

// decimalText formats n scaled by 10^-scale exactly: no float on the way.
func decimalText(n decimal128.Num, scale int32) string {
	v := n.BigInt()
	neg := v.Sign() < 0
	digits := new(big.Int).Abs(v).String()
	if scale > 0 {
		if pad := int(scale) + 1 - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
		cut := len(digits) - int(scale)
		digits = digits[:cut] + "." + digits[cut:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}
