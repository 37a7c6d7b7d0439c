package sqlio

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// bind rewrites the named parameters of query (:date, :from, :to …) into
// the driver's placeholders ($1, $2 … for postgres, ? for sqlite and mysql)
// and returns the values in placeholder order. Values are bound by the
// driver, never spliced into the text.
//
// The scanner skips string literals ('…', E'…', $tag$…$tag$ in postgres,
// backslash escapes in mysql), quoted identifiers ("…", `…`), comments
// (-- and /* */) and casts (::), so ':date' in a literal and x::date stay
// as they are. A name the query uses that params does not hold is an error.
func bind(driver, query string, params map[string]any) (string, []any, error) {
	var (
		out    strings.Builder
		args   []any
		number = map[string]int{} // postgres: one $n per name
	)
	out.Grow(len(query) + 8)
	n := len(query)
	for i := 0; i < n; {
		c := query[i]
		switch {
		case c == '\'':
			backslash := driver == "mysql" || (driver == "postgres" && i > 0 && (query[i-1] == 'E' || query[i-1] == 'e') && (i < 2 || !isIdent(query[i-2])))
			j := skipQuoted(query, i, '\'', backslash)
			out.WriteString(query[i:j])
			i = j
		case c == '"':
			j := skipQuoted(query, i, '"', driver == "mysql")
			out.WriteString(query[i:j])
			i = j
		case c == '`' && driver != "postgres":
			j := skipQuoted(query, i, '`', false)
			out.WriteString(query[i:j])
			i = j
		case c == '-' && i+1 < n && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = n - i
			}
			out.WriteString(query[i : i+j])
			i += j
		case c == '/' && i+1 < n && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			end := n
			if j >= 0 {
				end = i + 2 + j + 2
			}
			out.WriteString(query[i:end])
			i = end
		case c == '$' && driver == "postgres" && (i == 0 || !isIdent(query[i-1])):
			j := skipDollarQuoted(query, i)
			out.WriteString(query[i:j])
			i = j
		case c == ':' && i+1 < n && query[i+1] == ':':
			out.WriteString("::")
			i += 2
		case c == ':' && i+1 < n && isIdentStart(query[i+1]) && (i == 0 || !isIdent(query[i-1])):
			j := i + 1
			for j < n && isIdent(query[j]) {
				j++
			}
			name := query[i+1 : j]
			v, ok := params[name]
			if !ok {
				return "", nil, fmt.Errorf("query uses :%s, but the parameters are %s", name, known(params))
			}
			if driver == "postgres" {
				k, seen := number[name]
				if !seen {
					args = append(args, v)
					k = len(args)
					number[name] = k
				}
				out.WriteString("$" + strconv.Itoa(k))
			} else {
				args = append(args, v)
				out.WriteByte('?')
			}
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.String(), args, nil
}

// skipQuoted returns the index after the literal that opens at i: a quote
// doubled inside is part of it, and so, with backslash, is an escaped one.
// An unterminated literal runs to the end (the server reports it).
func skipQuoted(s string, i int, q byte, backslash bool) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if backslash {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// skipDollarQuoted returns the index after a $tag$…$tag$ string opening at
// i, or i+1 when the $ opens none ($1 is a positional parameter).
func skipDollarQuoted(s string, i int) int {
	j := i + 1
	if j < len(s) && isIdentStart(s[j]) {
		for j < len(s) && isIdent(s[j]) {
			j++
		}
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	k := strings.Index(s[j+1:], tag)
	if k < 0 {
		return len(s)
	}
	return j + 1 + k + len(tag)
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func known(params map[string]any) string {
	if len(params) == 0 {
		return "none"
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, ":"+k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
