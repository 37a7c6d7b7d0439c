package sqlio

import (
	"strings"
	"testing"
)

func TestParseIdent(t *testing.T) {
	tests := []struct {
		name, in string
		want     Ident
		wantErr  bool
	}{
		{name: "plain", in: "churn_scores", want: Ident{Name: "churn_scores"}},
		{name: "qualified", in: "analytics.churn_scores", want: Ident{Schema: "analytics", Name: "churn_scores"}},
		{name: "mixed case kept", in: "Scores2", want: Ident{Name: "Scores2"}},
		{name: "underscore start", in: "_x", want: Ident{Name: "_x"}},
		{name: "63 chars", in: strings.Repeat("a", 63), want: Ident{Name: strings.Repeat("a", 63)}},
		{name: "64 chars", in: strings.Repeat("a", 64), wantErr: true},
		{name: "injection", in: "scores; DROP TABLE x", wantErr: true},
		{name: "quote", in: `scores"`, wantErr: true},
		{name: "backtick", in: "scores`", wantErr: true},
		{name: "space", in: "my scores", wantErr: true},
		{name: "digit start", in: "1scores", wantErr: true},
		{name: "three parts", in: "a.b.c", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "empty schema", in: ".scores", wantErr: true},
		{name: "dash", in: "churn-scores", wantErr: true},
		{name: "unicode", in: "scöres", wantErr: true},
		{name: "comment", in: "scores--", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIdent(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseIdent(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("ParseIdent(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIdentQuote(t *testing.T) {
	id := Ident{Schema: "analytics", Name: "order"}
	if got, want := id.Quote(sinkPostgres), `"analytics"."order"`; got != want {
		t.Errorf("postgres: %s, want %s", got, want)
	}
	if got, want := id.Quote(sinkMySQL), "`analytics`.`order`"; got != want {
		t.Errorf("mysql: %s, want %s", got, want)
	}
	if got, want := quoteName(sinkPostgres, `a"b`), `"a""b"`; got != want {
		t.Errorf("escaping: %s, want %s", got, want)
	}
}

// FuzzParseIdent: whatever is accepted quotes to a string with no quote
// character inside, no whitespace and no semicolon.
func FuzzParseIdent(f *testing.F) {
	for _, s := range []string{"scores", "a.b", "scores; DROP TABLE x", `x"y`, "a.b.c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdent(s)
		if err != nil {
			return
		}
		for _, d := range []sinkDialect{sinkPostgres, sinkSQLite, sinkMySQL} {
			q := id.Quote(d)
			inner := strings.NewReplacer(`"."`, "", "`.`", "").Replace(q[1 : len(q)-1])
			if strings.ContainsAny(inner, "\"`; \t\n'") {
				t.Fatalf("%q quotes to %s", s, q)
			}
		}
	})
}
