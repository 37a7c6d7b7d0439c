package sqlio

import (
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassify covers the SQLSTATE table for each driver's error type;
// the PostgreSQL ones are also raised by a real server in
// TestSinkClassifiesPostgresErrors.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // nil: transient, unmarked
	}{
		{"pg syntax", &pgconn.PgError{Code: "42601"}, ErrRejected},
		{"pg undefined table", &pgconn.PgError{Code: "42P01"}, ErrRejected},
		{"pg privilege", &pgconn.PgError{Code: "42501"}, ErrRejected},
		{"pg no schema", &pgconn.PgError{Code: "3F000"}, ErrRejected},
		{"pg no database", &pgconn.PgError{Code: "3D000"}, ErrRejected},
		{"pg password", &pgconn.PgError{Code: "28P01"}, ErrRejected},
		{"pg not supported", &pgconn.PgError{Code: "0A000"}, ErrRejected},
		{"pg not null", &pgconn.PgError{Code: "23502"}, ErrRejected},
		{"pg numeric overflow", &pgconn.PgError{Code: "22003"}, ErrDataException},
		{"pg statement timeout", &pgconn.PgError{Code: "57014"}, ErrTimeout},
		{"pg terminated", &pgconn.PgError{Code: "57P01"}, ErrConnection},
		{"pg connection", &pgconn.PgError{Code: "08006"}, ErrConnection},
		{"pg too many connections", &pgconn.PgError{Code: "53300"}, nil},
		{"pg serialization", &pgconn.PgError{Code: "40001"}, nil},
		{"pg deadlock", &pgconn.PgError{Code: "40P01"}, nil},
		{"pg lock", &pgconn.PgError{Code: "55P03"}, nil},
		{"mysql syntax", &mysql.MySQLError{Number: 1064, SQLState: [5]byte{'4', '2', '0', '0', '0'}}, ErrRejected},
		{"mysql access", &mysql.MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}}, ErrRejected},
		{"mysql deadlock", &mysql.MySQLError{Number: 1213, SQLState: [5]byte{'4', '0', '0', '0', '1'}}, nil},
		{"mysql lock wait", &mysql.MySQLError{Number: 1205, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}}, nil},
		{"mysql max_execution_time", &mysql.MySQLError{Number: 3024, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}}, ErrTimeout},
		{"mysql unknown database", &mysql.MySQLError{Number: 1049, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}}, ErrRejected},
		{"no database error", errors.New("boom"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped := fmt.Errorf("output table x: %w", redactError(fmt.Errorf("creating: %w", tt.err), nil))
			got := Classify(wrapped)
			if got.Error() != wrapped.Error() {
				t.Errorf("text changed: %q", got)
			}
			for _, class := range []error{ErrRejected, ErrDataException, ErrTimeout, ErrConnection} {
				if errors.Is(got, class) != (class == tt.want) {
					t.Errorf("errors.Is(%v) = %v, want class %v", class, errors.Is(got, class), tt.want)
				}
			}
			if !errors.Is(got, tt.err) {
				t.Error("the driver's error is no longer in the chain")
			}
		})
	}
}

func TestDecimalText(t *testing.T) {
	tests := []struct {
		v     int64
		scale int32
		want  string
	}{
		{1234, 2, "12.34"}, {-1234, 2, "-12.34"}, {5, 3, "0.005"}, {-5, 3, "-0.005"}, {0, 2, "0.00"}, {42, 0, "42"},
	}
	for _, tt := range tests {
		if got := decimalText(decimal128.FromI64(tt.v), tt.scale); got != tt.want {
			t.Errorf("decimalText(%d, %d) = %q, want %q", tt.v, tt.scale, got, tt.want)
		}
	}
	// 38 digits, exactly: no float on the way.
	n, _ := decimal128.FromString("12345678901234567890123456789012345678", 38, 0)
	if got := decimalText(n, 10); got != "1234567890123456789012345678.9012345678" {
		t.Errorf("38 digits: %s", got)
	}
}
