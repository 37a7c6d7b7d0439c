package sqlio

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// sinkDialect is the SQL flavour a sink speaks.
type sinkDialect int

const (
	sinkPostgres sinkDialect = iota + 1
	sinkSQLite
	sinkMySQL
)

func (d sinkDialect) String() string {
	switch d {
	case sinkPostgres:
		return "postgres"
	case sinkSQLite:
		return "sqlite"
	case sinkMySQL:
		return "mysql"
	}
	return "unknown"
}

// sinkDriver maps a job file's driver name to a dialect and the
// database/sql driver registered for it.
func sinkDriver(name string) (sinkDialect, string, error) {
	switch strings.ToLower(name) {
	case "postgres", "postgresql", "pgx":
		return sinkPostgres, "pgx", nil
	case "sqlite", "sqlite3":
		return sinkSQLite, "sqlite", nil
	case "mysql":
		return sinkMySQL, "mysql", nil
	}
	return 0, "", fmt.Errorf("unknown SQL driver %q: want postgres, sqlite or mysql", name)
}

// Column names the sink adds to the result columns, and the registry's
// columns.
const (
	colVersion  = "version"
	colScoredAt = "scored_at"

	statusStaged     = "staged"
	statusCurrent    = "current"
	statusSuperseded = "superseded"
)

// Suffixes of the objects that go with a result table. A table name plus
// the longest suffix must fit the 63-character limit.
const (
	suffixRuns       = "_runs"
	suffixOwner      = "_owner"
	suffixCurrent    = "_current"
	suffixVersionIdx = "_version_idx"
	suffixCurrentIdx = "_runs_cur_idx"
	maxSuffix        = len(suffixCurrentIdx)
)

// sinkColumn is one column of the result table.
type sinkColumn struct {
	Name    string
	Type    arrow.DataType // nil for the columns the sink adds
	DDL     string         // type in CREATE TABLE
	Catalog string         // how the catalog reports it: information_schema data_type, or SQLite's affinity
	NotNull bool
}

// columnType maps an Arrow type to the column type of a dialect and the
// name its catalog reports for that type.
//
//	Arrow                     PostgreSQL         MySQL        SQLite (stored as)
//	int8                      smallint           TINYINT      INTEGER
//	int16, uint8              smallint           SMALLINT     INTEGER
//	int32, uint16             integer            INT          INTEGER
//	int64, uint32             bigint             BIGINT       INTEGER
//	float32                   real               FLOAT        REAL
//	float64                   double precision   DOUBLE       REAL
//	bool                      boolean            BOOLEAN      BOOLEAN (0/1)
//	utf8, large_utf8, dict    text               TEXT         TEXT
//	binary, large_binary      bytea              LONGBLOB     BLOB
//	date32, date64            date               DATE         DATE ('YYYY-MM-DD')
//	timestamp with zone       timestamptz        DATETIME(6)  TIMESTAMP ('YYYY-MM-DD HH:MM:SS.ffffffZ', UTC)
//	timestamp without zone    timestamp          DATETIME(6)  TIMESTAMP ('YYYY-MM-DD HH:MM:SS.ffffff')
//
//	decimal128(p, s)          numeric(p,s)       DECIMAL(p,s) TEXT (exact, see sink_decimal.go)
//
// uint64, decimal256, lists, structs and the rest are refused.
func columnType(d sinkDialect, dt arrow.DataType) (ddl, catalog string, err error) {
	if dict, ok := dt.(*arrow.DictionaryType); ok {
		switch dict.ValueType.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			dt = dict.ValueType
		default:
			return "", "", fmt.Errorf("type %s is not supported", dt)
		}
	}
	if dec, ok := dt.(*arrow.Decimal128Type); ok {
		return decimalColumnType(d, dec) // see sink_decimal.go
	}
	var pg, my, lite string
	switch dt.ID() {
	case arrow.INT8:
		pg, my, lite = "smallint", "TINYINT", "INTEGER"
	case arrow.INT16, arrow.UINT8:
		pg, my, lite = "smallint", "SMALLINT", "INTEGER"
	case arrow.INT32, arrow.UINT16:
		pg, my, lite = "integer", "INT", "INTEGER"
	case arrow.INT64, arrow.UINT32:
		pg, my, lite = "bigint", "BIGINT", "INTEGER"
	case arrow.FLOAT32:
		pg, my, lite = "real", "FLOAT", "REAL"
	case arrow.FLOAT64:
		pg, my, lite = "double precision", "DOUBLE", "REAL"
	case arrow.BOOL:
		pg, my, lite = "boolean", "BOOLEAN", "BOOLEAN"
	case arrow.STRING, arrow.LARGE_STRING:
		pg, my, lite = "text", "TEXT", "TEXT"
	case arrow.BINARY, arrow.LARGE_BINARY:
		pg, my, lite = "bytea", "LONGBLOB", "BLOB"
	case arrow.DATE32, arrow.DATE64:
		pg, my, lite = "date", "DATE", "DATE"
	case arrow.TIMESTAMP:
		if dt.(*arrow.TimestampType).TimeZone != "" {
			pg, my, lite = "timestamptz", "DATETIME(6)", "TIMESTAMP"
		} else {
			pg, my, lite = "timestamp", "DATETIME(6)", "TIMESTAMP"
		}
	default:
		return "", "", fmt.Errorf("type %s is not supported", dt)
	}
	switch d {
	case sinkPostgres:
		return pg, pgCatalogType(pg), nil
	case sinkMySQL:
		return my, mysqlCatalogType(my), nil
	default:
		return lite, sinkAffinity(lite), nil
	}
}

// pgCatalogType is information_schema.columns.data_type for a type as we
// write it in DDL.
func pgCatalogType(ddl string) string {
	switch ddl {
	case "timestamptz":
		return "timestamp with time zone"
	case "timestamp":
		return "timestamp without time zone"
	}
	return ddl
}

// mysqlCatalogType is information_schema.COLUMNS.DATA_TYPE for a DDL type.
func mysqlCatalogType(ddl string) string {
	switch ddl {
	case "BOOLEAN":
		return "tinyint"
	case "DATETIME(6)":
		return "datetime"
	}
	return strings.ToLower(ddl)
}

// sinkAffinity applies SQLite's rules for a declared column type
// (https://sqlite.org/datatype3.html, 3.1): existing tables are compared by
// affinity, since SQLite keeps any declared type name.
func sinkAffinity(declared string) string {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return "INTEGER"
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return "TEXT"
	case strings.Contains(t, "BLOB"), t == "":
		return "BLOB"
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return "REAL"
	}
	return "NUMERIC"
}

// resultColumns lays out the result table: the schema's columns in order,
// then version and scored_at.
func resultColumns(d sinkDialect, schema *arrow.Schema) ([]sinkColumn, error) {
	var cols []sinkColumn
	for _, f := range schema.Fields() {
		if err := ValidateName(f.Name); err != nil {
			return nil, fmt.Errorf("result column: %w", err)
		}
		if f.Name == colVersion || f.Name == colScoredAt {
			return nil, fmt.Errorf("result column %q: the name is reserved for the sink", f.Name)
		}
		ddl, cat, err := columnType(d, f.Type)
		if err != nil {
			return nil, fmt.Errorf("result column %q: %w", f.Name, err)
		}
		cols = append(cols, sinkColumn{Name: f.Name, Type: f.Type, DDL: ddl, Catalog: cat})
	}
	version, scoredAt := "text", "timestamptz"
	switch d {
	case sinkMySQL:
		version, scoredAt = "VARCHAR(64)", "DATETIME(6)"
	case sinkSQLite:
		version, scoredAt = "TEXT", "TIMESTAMP"
	}
	cols = append(cols,
		sinkColumn{Name: colVersion, DDL: version, Catalog: catalogOf(d, version), NotNull: true},
		sinkColumn{Name: colScoredAt, DDL: scoredAt, Catalog: catalogOf(d, scoredAt), NotNull: true},
	)
	return cols, nil
}

func catalogOf(d sinkDialect, ddl string) string {
	switch d {
	case sinkPostgres:
		return pgCatalogType(ddl)
	case sinkMySQL:
		if strings.HasPrefix(ddl, "VARCHAR") {
			return "varchar"
		}
		return mysqlCatalogType(ddl)
	}
	return sinkAffinity(ddl)
}

// sinkNames are the quoted names of a result table's objects.
type sinkNames struct {
	Table, Runs, View, Owner Ident
	d                        sinkDialect
}

func (n sinkNames) q(s string) string { return quoteName(n.d, s) }

// ph is the n-th (1-based) bind placeholder.
func (n sinkNames) ph(i int) string {
	if n.d == sinkPostgres {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// createStatements creates the result table, its index, the run registry
// and its index, all only if absent. The view is created separately, once
// the table is known to match.
func (n sinkNames) createStatements(cols []sinkColumn) []string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + n.Table.Quote(n.d) + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n.q(c.Name) + " " + c.DDL)
		if c.NotNull {
			b.WriteString(" NOT NULL")
		}
	}
	if n.d == sinkMySQL {
		b.WriteString(", INDEX " + n.q(n.Table.Name+suffixVersionIdx) + " (" + n.q(colVersion) + ")")
	}
	b.WriteString(")" + n.tableOptions())
	stmts := []string{b.String()}

	text, date, ts, bigint := "text", "date", "timestamptz", "bigint"
	switch n.d {
	case sinkMySQL:
		text, date, ts, bigint = "VARCHAR(255)", "DATE", "DATETIME(6)", "BIGINT"
	case sinkSQLite:
		text, date, ts, bigint = "TEXT", "DATE", "TIMESTAMP", "INTEGER"
	}
	version := text
	if n.d == sinkMySQL {
		version = "VARCHAR(64)"
	}
	runs := "CREATE TABLE IF NOT EXISTS " + n.Runs.Quote(n.d) + " (" +
		n.q("version") + " " + version + " NOT NULL PRIMARY KEY, " +
		n.q("score_date") + " " + date + " NOT NULL, " +
		n.q("run_id") + " " + text + ", " +
		n.q("model_version") + " " + text + ", " +
		n.q("rows") + " " + bigint + " NOT NULL DEFAULT 0, " +
		n.q("status") + " " + text + " NOT NULL CHECK (" + n.q("status") + " IN ('staged', 'current', 'superseded')), " +
		n.q("created_at") + " " + ts + " NOT NULL, " +
		n.q("published_at") + " " + ts
	if n.d == sinkMySQL {
		// No partial indexes: Publish's locking read keeps one current
		// version per date.
		runs += ", INDEX " + n.q(n.Runs.Name+"_date_idx") + " (" + n.q("score_date") + ", " + n.q("status") + ")"
	}
	runs += ")" + n.tableOptions()
	stmts = append(stmts, runs)
	if n.d != sinkMySQL {
		stmts = append(stmts,
			"CREATE INDEX IF NOT EXISTS "+n.indexName(suffixVersionIdx)+" ON "+n.indexTable(n.Table)+" ("+n.q(colVersion)+")",
			"CREATE UNIQUE INDEX IF NOT EXISTS "+n.indexName(suffixCurrentIdx)+" ON "+n.indexTable(n.Runs)+" ("+n.q("score_date")+") WHERE "+n.q("status")+" = 'current'",
		)
	}
	return stmts
}

// tableOptions ends a CREATE TABLE. MySQL's text columns take the
// database's character set, which on a MariaDB nobody configured is
// latin1: a result string outside it (日本語, an emoji) would be refused, so
// the sink's tables are utf8mb4, compared byte for byte (utf8mb4_bin) as
// PostgreSQL and SQLite compare text.
func (n sinkNames) tableOptions() string {
	if n.d == sinkMySQL {
		return " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	}
	return ""
}

// indexName is the name in CREATE INDEX: PostgreSQL puts the index in the
// table's schema and wants it unqualified; SQLite wants schema.index.
func (n sinkNames) indexName(suffix string) string {
	id := Ident{Name: n.Table.Name + suffix}
	if n.d == sinkSQLite {
		id.Schema = n.Table.Schema
	}
	return id.Quote(n.d)
}

// indexTable is the table in CREATE INDEX ... ON: SQLite wants it
// unqualified (it lives in the index's schema).
func (n sinkNames) indexTable(t Ident) string {
	if n.d == sinkSQLite {
		return quoteName(n.d, t.Name)
	}
	return t.Quote(n.d)
}

// createView is the view of the current version's rows of every date.
// SQLite resolves a view's tables in its own schema, so they are named
// unqualified there.
func (n sinkNames) createView(cols []sinkColumn) string {
	table, runs := n.Table.Quote(n.d), n.Runs.Quote(n.d)
	if n.d == sinkSQLite {
		table, runs = n.q(n.Table.Name), n.q(n.Runs.Name)
	}
	var sel []string
	for _, c := range cols {
		sel = append(sel, "d."+n.q(c.Name))
	}
	create := "CREATE VIEW "
	if n.d == sinkSQLite {
		create = "CREATE VIEW IF NOT EXISTS "
	}
	return create + n.View.Quote(n.d) + " AS SELECT " + strings.Join(sel, ", ") +
		" FROM " + table + " d JOIN " + runs + " r ON r." + n.q("version") + " = d." + n.q(colVersion) +
		" WHERE r." + n.q("status") + " = 'current'"
}

// insertRows is a multi-row INSERT of rows rows.
func (n sinkNames) insertRows(cols []sinkColumn, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + n.Table.Quote(n.d) + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n.q(c.Name))
	}
	b.WriteString(") VALUES ")
	p := 1
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n.ph(p))
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Registry statements. Their parameters are in the order of the
// placeholders.

// stageRun: version, score_date, created_at.
func (n sinkNames) stageRun() string {
	return "INSERT INTO " + n.Runs.Quote(n.d) + " (" + n.q("version") + ", " + n.q("score_date") + ", " + n.q("status") + ", " + n.q("rows") + ", " + n.q("created_at") +
		") VALUES (" + n.ph(1) + ", " + n.ph(2) + ", 'staged', 0, " + n.ph(3) + ")"
}

// lockRun reads a run's status, locking its row where the database can:
// version.
func (n sinkNames) lockRun() string {
	q := "SELECT " + n.q("status") + " FROM " + n.Runs.Quote(n.d) + " WHERE " + n.q("version") + " = " + n.ph(1)
	if n.d != sinkSQLite {
		q += " FOR UPDATE"
	}
	return q
}

// lockDate locks the current version of a date (MySQL, whose index cannot
// enforce one current version per date): score_date.
func (n sinkNames) lockDate() string {
	return "SELECT " + n.q("version") + " FROM " + n.Runs.Quote(n.d) + " WHERE " + n.q("score_date") + " = " + n.ph(1) + " FOR UPDATE"
}

// supersede: score_date.
func (n sinkNames) supersede() string {
	return "UPDATE " + n.Runs.Quote(n.d) + " SET " + n.q("status") + " = 'superseded' WHERE " + n.q("score_date") + " = " + n.ph(1) + " AND " + n.q("status") + " = 'current'"
}

// makeCurrent: published_at, rows, run_id, model_version, version.
func (n sinkNames) makeCurrent() string {
	return "UPDATE " + n.Runs.Quote(n.d) + " SET " + n.q("status") + " = 'current', " + n.q("published_at") + " = " + n.ph(1) + ", " + n.q("rows") + " = " + n.ph(2) + ", " +
		n.q("run_id") + " = " + n.ph(3) + ", " + n.q("model_version") + " = " + n.ph(4) +
		" WHERE " + n.q("version") + " = " + n.ph(5) + " AND " + n.q("status") + " = 'staged'"
}

// publishedVersions lists a date's published versions, the current one
// first, then newest first: score_date.
func (n sinkNames) publishedVersions() string {
	return "SELECT " + n.q("version") + " FROM " + n.Runs.Quote(n.d) + " WHERE " + n.q("score_date") + " = " + n.ph(1) + " AND " + n.q("status") + " IN ('current', 'superseded')" +
		" ORDER BY CASE " + n.q("status") + " WHEN 'current' THEN 0 ELSE 1 END, " + n.q("published_at") + " DESC, " + n.q("version") + " DESC"
}

// deleteRows: version.
func (n sinkNames) deleteRows() string {
	return "DELETE FROM " + n.Table.Quote(n.d) + " WHERE " + n.q(colVersion) + " = " + n.ph(1)
}

// deleteRun removes a registry entry in a given status: version, status.
func (n sinkNames) deleteRun() string {
	return "DELETE FROM " + n.Runs.Quote(n.d) + " WHERE " + n.q("version") + " = " + n.ph(1) + " AND " + n.q("status") + " = " + n.ph(2)
}

// catalogColumns lists an existing table's columns and their catalog
// types (a decimal with its precision and scale); no rows when it does
// not exist: schema ("" for the default), table.
func (n sinkNames) catalogColumns() string {
	switch n.d {
	case sinkPostgres:
		return "SELECT column_name, CASE WHEN data_type = 'numeric' AND numeric_precision IS NOT NULL THEN 'numeric(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END" +
			" FROM information_schema.columns WHERE table_schema = COALESCE(NULLIF($1, ''), current_schema()) AND table_name = $2 ORDER BY ordinal_position"
	case sinkMySQL:
		return "SELECT COLUMN_NAME, CASE WHEN DATA_TYPE = 'decimal' THEN CONCAT('decimal(', NUMERIC_PRECISION, ',', NUMERIC_SCALE, ')') ELSE DATA_TYPE END" +
			" FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(NULLIF(?, ''), DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
	}
	return "SELECT name, type FROM pragma_table_info(?2, NULLIF(?1, ''))"
}

// runsColumns are the registry columns the sink reads and writes.
var runsColumns = []string{"version", "score_date", "run_id", "model_version", "rows", "status", "created_at", "published_at"}
