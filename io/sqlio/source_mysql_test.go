package sqlio

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
)

// A TIMESTAMP is an instant: it must read the same whatever time zone the
// server or the DSN gives the session.
func TestMySQLTimestampsReadAsUTCWhateverTheSessionZone(t *testing.T) {
	dsn := mariadbtest.DSN(t)
	mariadbtest.Exec(t, dsn,
		"SET time_zone = '+00:00'",
		"CREATE TABLE ev (id INT, ts TIMESTAMP(6) NULL, dt DATETIME(6) NULL)",
		"INSERT INTO ev VALUES (1, '2024-05-01 12:51:30.123456', '2024-05-01 12:51:30.123456')")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	shifted := dsn + sep + "time_zone=" + url.QueryEscape("'+02:00'")
	res, err := readQuery(t, Config{Driver: "mysql", DSNEnv: envDSN(t, shifted), Query: "SELECT id, ts, dt FROM ev"}, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "2024-05-01 12:51:30.123456Z", "2024-05-01 12:51:30.123456Z"}}
	if !reflect.DeepEqual(res.rows, want) {
		t.Fatalf("rows = %v, want %v (a TIMESTAMP shifted by the session's zone)", res.rows, want)
	}
}
