package sqlio

import (
	"reflect"
	"strings"
	"testing"
)

func TestBind(t *testing.T) {
	params := map[string]any{"date": "2024-05-01", "from": 1, "to": 2}
	for _, c := range []struct {
		name, driver, query, want string
		args                      []any
		err                       string
	}{
		{name: "literal and cast", driver: "postgres",
			query: `SELECT ':date', x::date FROM t WHERE d = :date`,
			want:  `SELECT ':date', x::date FROM t WHERE d = $1`, args: []any{"2024-05-01"}},
		{name: "literal and cast sqlite", driver: "sqlite",
			query: `SELECT ':date', x::date FROM t WHERE d = :date`,
			want:  `SELECT ':date', x::date FROM t WHERE d = ?`, args: []any{"2024-05-01"}},
		{name: "repeat postgres", driver: "postgres",
			query: `SELECT * FROM t WHERE a BETWEEN :from AND :to OR b = :from`,
			want:  `SELECT * FROM t WHERE a BETWEEN $1 AND $2 OR b = $1`, args: []any{1, 2}},
		{name: "repeat mysql", driver: "mysql",
			query: `SELECT * FROM t WHERE a BETWEEN :from AND :to OR b = :from`,
			want:  `SELECT * FROM t WHERE a BETWEEN ? AND ? OR b = ?`, args: []any{1, 2, 1}},
		{name: "doubled quote", driver: "postgres",
			query: `SELECT 'it''s :date', :date`, want: `SELECT 'it''s :date', $1`, args: []any{"2024-05-01"}},
		{name: "mysql backslash", driver: "mysql",
			query: `SELECT 'it\'s :date', :date`, want: `SELECT 'it\'s :date', ?`, args: []any{"2024-05-01"}},
		{name: "postgres E string", driver: "postgres",
			query: `SELECT E'it\'s :date', :date`, want: `SELECT E'it\'s :date', $1`, args: []any{"2024-05-01"}},
		{name: "quoted identifier", driver: "postgres",
			query: `SELECT ":date" FROM t WHERE d = :date`, want: `SELECT ":date" FROM t WHERE d = $1`, args: []any{"2024-05-01"}},
		{name: "backticks", driver: "mysql",
			query: "SELECT `:date` FROM t WHERE d = :date", want: "SELECT `:date` FROM t WHERE d = ?", args: []any{"2024-05-01"}},
		{name: "comments", driver: "postgres",
			query: "SELECT 1 -- :nope\n/* :nope */ WHERE d = :date", want: "SELECT 1 -- :nope\n/* :nope */ WHERE d = $1", args: []any{"2024-05-01"}},
		{name: "dollar quoted", driver: "postgres",
			query: `SELECT $x$ :nope $x$, $$:nope$$, :to`, want: `SELECT $x$ :nope $x$, $$:nope$$, $1`, args: []any{2}},
		{name: "no parameters", driver: "sqlite", query: `SELECT 1`, want: `SELECT 1`},
		{name: "unknown name", driver: "postgres", query: `SELECT :dat`, err: "query uses :dat, but the parameters are :date, :from, :to"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, args, err := bind(c.driver, c.query, params)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("query\n got %s\nwant %s", got, c.want)
			}
			if !reflect.DeepEqual(args, c.args) {
				t.Errorf("args %v, want %v", args, c.args)
			}
		})
	}
}

func FuzzBind(f *testing.F) {
	for _, s := range []string{`SELECT ':date', x::date FROM t WHERE d = :date`, `$a$ :to $a$ :from`, `E'\'' :date`, "-- :x\n:to"} {
		f.Add(s)
	}
	params := map[string]any{"date": 1, "from": 2, "to": 3}
	f.Fuzz(func(t *testing.T, q string) {
		for _, d := range []string{"postgres", "sqlite", "mysql"} {
			out, args, err := bind(d, q, params)
			if err != nil {
				continue
			}
			if !strings.Contains(q, ":") && out != q {
				t.Fatalf("%s: %q rewritten to %q without a parameter", d, q, out)
			}
			if d != "postgres" && strings.Count(out, "?")-strings.Count(q, "?") != len(args) {
				t.Fatalf("%s: %q: %d placeholders for %d args", d, out, strings.Count(out, "?"), len(args))
			}
		}
	})
}
