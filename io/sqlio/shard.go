package sqlio

import (
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"strings"

	"modernc.org/sqlite"
)

// sqliteShardHash is the hash ShardQuery uses in SQLite, which has none
// built in: FNV-1a of the value's text, registered for every connection.
const sqliteShardHash = "batchscore_shard_hash"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(sqliteShardHash, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if args[0] == nil {
			return int64(0), nil
		}
		h := fnv.New64a()
		switch v := args[0].(type) {
		case []byte:
			h.Write(v)
		default:
			fmt.Fprint(h, v)
		}
		return int64(h.Sum64() >> 1), nil // non-negative
	})
}

// ShardQuery wraps a source query so that it returns shard index of count:
// the rows whose key column hashes to index modulo count. The hash is the
// database's own, of the key as text (PostgreSQL's hashtextextended,
// MySQL's CRC32, FNV-1a registered in SQLite), so every row lands in
// exactly one shard whatever the key's type, and a retried shard gets the
// same rows; a null key goes to shard 0. The query keeps its :date
// parameters.
func ShardQuery(driverName, query, key string, index, count int) (string, error) {
	if err := ValidateName(key); err != nil {
		return "", fmt.Errorf("source.sql.shard_key: %w", err)
	}
	if count < 1 || index < 0 || index >= count {
		return "", fmt.Errorf("shard %d of %d: the index must be in 0..%d", index, count, count-1)
	}
	inner := strings.TrimSpace(query)
	for strings.HasSuffix(inner, ";") {
		inner = strings.TrimSpace(strings.TrimSuffix(inner, ";"))
	}
	var hash string
	switch driverName {
	case "postgres":
		col := "batchscore_shard." + quoteName(sinkPostgres, key)
		hash = fmt.Sprintf("COALESCE(hashtextextended(CAST(%s AS text), 0) & 9223372036854775807, 0)", col)
	case "mysql":
		col := "batchscore_shard." + quoteName(sinkMySQL, key)
		hash = fmt.Sprintf("COALESCE(CRC32(CAST(%s AS CHAR)), 0)", col)
	case "sqlite":
		col := "batchscore_shard." + quoteName(sinkSQLite, key)
		hash = fmt.Sprintf("%s(%s)", sqliteShardHash, col)
	default:
		return "", fmt.Errorf("source.sql: cannot shard a %s query", driverName)
	}
	// New lines around the query: a trailing -- comment stays a comment.
	return fmt.Sprintf("SELECT * FROM (\n%s\n) AS batchscore_shard WHERE %s %% %d = %d", inner, hash, count, index), nil
}
