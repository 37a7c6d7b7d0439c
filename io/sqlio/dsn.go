package sqlio

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// dsn reads the connection string from the environment variable or the
// file the config names. Errors name the variable or the file, never their
// content: a DSN may hold a password.
func (c Config) dsn() (string, error) {
	switch {
	case c.DSNEnv != "" && c.DSNFile != "":
		return "", fmt.Errorf("%w: both dsn_env (%s) and dsn_file (%s) are set; give one", ErrDSN, c.DSNEnv, c.DSNFile)
	case c.DSNEnv != "":
		v, ok := os.LookupEnv(c.DSNEnv)
		if !ok {
			return "", fmt.Errorf("%w: environment variable %s is not set", ErrDSN, c.DSNEnv)
		}
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Errorf("%w: environment variable %s is empty", ErrDSN, c.DSNEnv)
		}
		return v, nil
	case c.DSNFile != "":
		b, err := os.ReadFile(c.DSNFile)
		if err != nil {
			// The *PathError names the file only.
			return "", fmt.Errorf("%w: reading dsn_file: %v", ErrDSN, err)
		}
		// A secret mount often ends the value with a newline.
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%w: dsn_file %s is empty", ErrDSN, c.DSNFile)
		}
		return v, nil
	}
	return "", fmt.Errorf("%w: neither dsn_env nor dsn_file is set", ErrDSN)
}

// where names the DSN's origin in errors: "$CHURN_DB_DSN" or the file.
func (c Config) where() string {
	if c.DSNEnv != "" {
		return "$" + c.DSNEnv
	}
	return c.DSNFile
}

// redact removes every occurrence of the DSN and of its password from a
// driver's error text: some drivers quote the connection string they were
// given when they cannot parse it.
func redact(msg, dsn string) string {
	if dsn == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, dsn, "<dsn>")
	if pw := password(dsn); len(pw) >= 3 {
		forms := passwordForms(pw)
		sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
		for _, form := range forms {
			if len(form) >= 3 {
				msg = strings.ReplaceAll(msg, form, "xxxxx")
			}
		}
	}
	return msg
}

// password finds the password in a URL (scheme://user:pw@host), a MySQL
// DSN (user:pw@tcp(host)/db) or a key=value string (password=pw).
func password(dsn string) string {
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	rest := dsn
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	userinfo := rest[:at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		return userinfo[i+1:]
	}
	return ""
}

// ResolveDSN reads a DSN from an environment variable or a file, for the
// sink as for the source; errors name the variable or the file only.
func ResolveDSN(env, file string) (string, error) {
	return Config{DSNEnv: env, DSNFile: file}.dsn()
}
