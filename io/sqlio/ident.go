package sqlio

import (
	"fmt"
	"regexp"
	"strings"
)

// identPattern is what a table, schema or column name from a job file may
// look like: a letter or underscore, then letters, digits and underscores,
// 63 characters at most (PostgreSQL's limit; MySQL allows 64). Names are
// still quoted in every statement, so reserved words such as "order" work
// and PostgreSQL keeps their case.
var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Ident is a validated, optionally schema-qualified name, such as
// churn_scores or analytics.churn_scores.
type Ident struct {
	Schema string // "" when unqualified
	Name   string
}

// ParseIdent validates a name of the form name or schema.name. Anything
// else (quotes, spaces, semicolons, a third part) is an error, so a value
// such as `scores; DROP TABLE x` never reaches SQL text.
func ParseIdent(s string) (Ident, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return Ident{}, fmt.Errorf("invalid SQL name %q: at most one dot (schema.table)", s)
	}
	for _, p := range parts {
		if err := ValidateName(p); err != nil {
			return Ident{}, fmt.Errorf("invalid SQL name %q: %w", s, err)
		}
	}
	if len(parts) == 2 {
		return Ident{Schema: parts[0], Name: parts[1]}, nil
	}
	return Ident{Name: parts[0]}, nil
}

// ValidateName checks one unqualified name (a column, a table without its
// schema) against ^[A-Za-z_][A-Za-z0-9_]{0,62}$.
func ValidateName(s string) error {
	if !identPattern.MatchString(s) {
		return fmt.Errorf("%q is not a valid name: want a letter or _ then up to 62 letters, digits or _", s)
	}
	return nil
}

// String is the name as written in the job file.
func (id Ident) String() string {
	if id.Schema == "" {
		return id.Name
	}
	return id.Schema + "." + id.Name
}

// WithSuffix names a companion object in the same schema: the run registry
// <table>_runs, the view <table>_current.
func (id Ident) WithSuffix(suffix string) Ident {
	return Ident{Schema: id.Schema, Name: id.Name + suffix}
}

// quoteName quotes one name: "name" for PostgreSQL and SQLite, `name` for
// MySQL. Validated names hold no quote characters; doubling them anyway
// keeps the function safe on its own.
func quoteName(d sinkDialect, s string) string {
	if d == sinkMySQL {
		return "`" + strings.ReplaceAll(s, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Quote is the quoted, qualified name for SQL text.
func (id Ident) Quote(d sinkDialect) string {
	if id.Schema == "" {
		return quoteName(d, id.Name)
	}
	return quoteName(d, id.Schema) + "." + quoteName(d, id.Name)
}
