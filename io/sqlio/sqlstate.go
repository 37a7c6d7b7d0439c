package sqlio

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ErrRejected marks an error the database answered with that no retry
// changes: the query or the table is wrong, an object or schema does not
// exist, the role lacks a privilege or cannot log in. The job file or the
// database needs fixing first (exit 2).
var ErrRejected = errors.New("rejected by the database")

// ErrDataException marks a value the database refused (SQLSTATE class
// 22: a failed cast, a division by zero, a number out of its column's
// range). The data needs fixing first (exit 3).
var ErrDataException = errors.New("data exception")

// sqlStateClasses is the one table of what an SQLSTATE class means for a
// run: the sentinel a database error is marked with. A class that is not
// listed (53 insufficient resources, 40 serialization failure or deadlock,
// 55 lock not available, 58 and XX system errors, HY000 MySQL's "general
// error") is transient: exit 1, a retry may help. The README's SQL section
// shows this table; keep the two in step.
var sqlStateClasses = map[string]error{
	"08": ErrConnection,    // connection exception
	"57": ErrConnection,    // operator intervention: shutdown, terminated backend (57014 is ErrTimeout)
	"22": ErrDataException, // data exception
	"0A": ErrRejected,      // feature not supported
	"0L": ErrRejected,      // invalid grantor
	"0P": ErrRejected,      // invalid role specification
	"23": ErrRejected,      // integrity constraint violation: the table's constraints refuse the rows
	"28": ErrRejected,      // invalid authorization: wrong password, unknown role
	"3D": ErrRejected,      // invalid catalog name: no such database
	"3F": ErrRejected,      // invalid schema name
	"42": ErrRejected,      // syntax error or access rule violation: undefined table or column, insufficient privilege
}

// sqlStateTimeout is query_canceled: PostgreSQL's statement_timeout.
// MySQL's max_execution_time (3024) and lock wait timeout (1205) say HY000,
// MariaDB's max_statement_time (1969) says 70100.
const sqlStateTimeout = "57014"

// sqlState returns the SQLSTATE of a database's error in err's chain:
// PostgreSQL's and MySQL's own, or the equivalent of an SQLite result
// code. "" when err holds no database error.
func sqlState(err error) string {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	var le *sqlite.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.As(err, &me):
		// The error number first: some errors carry a SQLSTATE of a class
		// the table does not know (MariaDB's statement timeout is 70100).
		if state, ok := mysqlStates[me.Number]; ok {
			return state
		}
		if me.SQLState != [5]byte{} {
			return string(me.SQLState[:])
		}
		return ""
	case errors.As(err, &le):
		return sqliteStates[le.Code()&0xff] // extended codes carry the primary one in the low byte
	}
	return ""
}

// mysqlStates covers MySQL and MariaDB errors whose SQLSTATE is the
// catch-all HY000, or one of a class sqlStateClasses does not list.
var mysqlStates = map[uint16]string{
	1205: "55P03", // lock wait timeout exceeded
	3024: sqlStateTimeout,
	1969: sqlStateTimeout, // MariaDB: max_statement_time exceeded (70100)
	1290: "42501",         // --read-only and the like
	1227: "42501",         // access denied; you need the … privilege
	1049: "3D000",         // unknown database
}

// sqliteStates maps SQLite's primary result codes
// (https://sqlite.org/rescode.html) to the SQLSTATE that means the same.
var sqliteStates = map[int]string{
	1:  "42000", // SQLITE_ERROR: syntax error, no such table or column
	3:  "42501", // SQLITE_PERM
	5:  "55P03", // SQLITE_BUSY: another writer holds the lock
	6:  "55P03", // SQLITE_LOCKED
	7:  "53200", // SQLITE_NOMEM
	8:  "42501", // SQLITE_READONLY: the file or its folder is not writable
	10: "58030", // SQLITE_IOERR
	13: "53100", // SQLITE_FULL: disk full
	14: "3D000", // SQLITE_CANTOPEN: no such file or folder
	19: "23000", // SQLITE_CONSTRAINT
	20: "42804", // SQLITE_MISMATCH: datatype mismatch
	23: "28000", // SQLITE_AUTH
}

// stateClass is the sentinel of an SQLSTATE, nil for a transient one.
func stateClass(state string) error {
	if state == sqlStateTimeout {
		return ErrTimeout
	}
	if len(state) < 2 {
		return nil
	}
	return sqlStateClasses[strings.ToUpper(state[:2])]
}

// Classify marks err with the class of the database error it holds (see
// sqlStateClasses): errors.Is(Classify(err), ErrRejected) says a retry
// cannot help. Its text is err's. An error already marked, or holding no
// database error, is returned as it is.
func Classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrRejected) || errors.Is(err, ErrDataException) ||
		errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnection) {
		return err
	}
	class := stateClass(sqlState(err))
	if class == nil {
		return err
	}
	return &classified{err: err, class: class}
}

// classified is an error marked with its class; its text is the error's.
type classified struct {
	err   error
	class error
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.err, e.class} }

// classifiedf is the error "<driver>: <what>: <msg>" of a source, marked
// with class. A timeout or a lost connection keeps the sentinel's text in
// front, as every other such error does.
func classifiedf(class error, driver, what, msg string) error {
	switch class {
	case nil:
		return fmt.Errorf("%s: %s: %s", driver, what, msg)
	case ErrTimeout, ErrConnection:
		return fmt.Errorf("%w: %s: %s", class, what, msg)
	}
	return &classified{err: fmt.Errorf("%s: %s: %s", driver, what, msg), class: class}
}
