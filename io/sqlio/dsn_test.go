package sqlio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDSN(t *testing.T) {
	const secret = "postgres://u:s3cret-Pa55@db/x"
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	t.Setenv("SQLIO_DSN_SET", secret)
	t.Setenv("SQLIO_DSN_EMPTY", " ")
	for _, c := range []struct {
		name string
		cfg  Config
		want string // the DSN, or the error text
	}{
		{"env", Config{DSNEnv: "SQLIO_DSN_SET"}, secret},
		{"file with newline", Config{DSNFile: file}, secret},
		{"missing env", Config{DSNEnv: "SQLIO_DSN_UNSET"}, "environment variable SQLIO_DSN_UNSET is not set"},
		{"empty env", Config{DSNEnv: "SQLIO_DSN_EMPTY"}, "environment variable SQLIO_DSN_EMPTY is empty"},
		{"missing file", Config{DSNFile: filepath.Join(dir, "nope")}, "nope: no such file"},
		{"empty file", Config{DSNFile: empty}, "dsn_file " + empty + " is empty"},
		{"both", Config{DSNEnv: "SQLIO_DSN_SET", DSNFile: file}, "both dsn_env (SQLIO_DSN_SET) and dsn_file"},
		{"neither", Config{}, "neither dsn_env nor dsn_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cfg.dsn()
			if err != nil {
				if !errors.Is(err, ErrDSN) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want ErrDSN with %q", err, c.want)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error holds the password: %v", err)
				}
				return
			}
			if got != c.want {
				t.Errorf("dsn %q, want %q", got, c.want)
			}
		})
	}
}

func TestOpenMissingEnv(t *testing.T) {
	_, err := Open(context.Background(), Config{Driver: "sqlite", DSNEnv: "SQLIO_DSN_UNSET", Query: "SELECT 1"}, nil)
	if !errors.Is(err, ErrDSN) || !strings.Contains(err.Error(), "SQLIO_DSN_UNSET") {
		t.Fatalf("error %v", err)
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ dsn, pw string }{
		{"postgres://u:pw123@h/db", "pw123"},
		{"u:pw123@tcp(h:3306)/db", "pw123"},
		{"host=h user=u password=pw123 dbname=x", "pw123"},
		{"file:/tmp/x.db", ""},
	} {
		if got := password(c.dsn); got != c.pw {
			t.Errorf("password(%q) = %q, want %q", c.dsn, got, c.pw)
		}
		if c.pw != "" && strings.Contains(redact("failed: "+c.dsn+" and "+c.pw, c.dsn), c.pw) {
			t.Errorf("redact left %q", c.pw)
		}
	}
}
