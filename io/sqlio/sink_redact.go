package sqlio

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// redactedMask replaces a password in error text.
const redactedMask = "xxxxx"

// dsnSecrets lists the strings of a DSN that must never be shown: its
// password as written, URL-escaped and unescaped. PostgreSQL's password
// may also come from PGPASSWORD, which pgconn reads, so it is included.
func dsnSecrets(d sinkDialect, dsn string) []string {
	var pws []string
	switch d {
	case sinkPostgres:
		if cfg, err := pgconn.ParseConfig(dsn); err == nil {
			pws = append(pws, cfg.Password)
		}
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				pws = append(pws, pw)
			}
		}
		for _, m := range pgKeywordPassword.FindAllStringSubmatch(dsn, -1) {
			pws = append(pws, strings.Trim(m[1], "'"))
		}
	case sinkMySQL:
		if cfg, err := mysql.ParseDSN(dsn); err == nil {
			pws = append(pws, cfg.Passwd)
		}
		// user:password@..., for a DSN the driver cannot parse.
		if at := strings.LastIndex(dsn, "@"); at > 0 {
			if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
				pws = append(pws, dsn[colon+1:at])
			}
		}
	}
	// Any URL form: scheme://user:password@host.
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			pws = append(pws, pw)
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	// A DSN that no parser accepts (a bad port, a stray %) still has its
	// password found by hand, and the DSN itself is masked whole.
	if pw := password(dsn); len(pw) >= 3 {
		add(dsn)
		pws = append(pws, pw)
	}
	for _, pw := range pws {
		for _, form := range passwordForms(pw) {
			add(form)
		}
	}
	// Longest first, so that a password containing another is masked whole.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// passwordForms are the ways a password may be written in a DSN or shown
// in an error: as given, URL-escaped and unescaped.
func passwordForms(pw string) []string {
	forms := []string{pw, url.QueryEscape(pw), url.PathEscape(pw)}
	if un, err := url.QueryUnescape(pw); err == nil {
		forms = append(forms, un)
	}
	if un, err := url.PathUnescape(pw); err == nil {
		forms = append(forms, un)
	}
	return forms
}

// pgKeywordPassword finds password=... in a keyword/value DSN.
var pgKeywordPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// redactError hides secrets in err's text. The result matches what err
// matches under errors.Is and errors.As, but it has no Unwrap: walking the
// chain would reach the unredacted text.
func redactError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redactedMask)
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }
func (e *redactedError) As(target any) bool   { return errors.As(e.err, target) }
