package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// passwordRole creates a login role that must give its password (scram,
// unlike the trust the test server grants postgres), owning the database
// at dsn, and returns the role's name.
func passwordRole(t *testing.T, dsn, password string) string {
	t.Helper()
	role := "bs_secret_" + randomHex(t, 4)
	pgtest.Exec(t, dsn,
		"SET password_encryption = 'scram-sha-256'",
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password),
		"GRANT SELECT ON customers TO "+role,
		"GRANT CREATE, USAGE ON SCHEMA public TO "+role,
	)
	// Only this role's lines: the other tests keep their trust.
	admin := pgtest.Connect(t, pgtest.SuperuserDSN(t))
	var hba string
	if err := admin.QueryRow(context.Background(), "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	lines := fmt.Sprintf("host all %[1]s 127.0.0.1/32 scram-sha-256\nhost all %[1]s ::1/128 scram-sha-256\n", role)
	reload := func(data []byte) {
		if err := os.WriteFile(hba, data, 0); err != nil { // the file exists: its mode stays
			t.Fatal(err)
		}
		if _, err := admin.Exec(context.Background(), "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
	}
	reload(append([]byte(lines), old...))
	t.Cleanup(func() { reload(old) })
	return role
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestSecretsNeverLeak runs SQL-source jobs (and the SQL sink) with a DSN
// whose password is a unique string, next to an unrelated token in the
// environment: a run that succeeds, one that fails to log in, one whose
// DSN cannot be parsed, and a validate run, with text and JSON logs at
// debug level. Neither string may appear in anything printed or in any
// file under the table.
func TestSecretsNeverLeak(t *testing.T) {
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	password := "pw-" + randomHex(t, 12)
	token := "tok-" + randomHex(t, 12)
	role := passwordRole(t, dsn, password)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	good := u.String()
	u.User = url.UserPassword(role, password+"-wrong")
	wrong := u.String()
	u.Host = u.Hostname() + ":notaport"
	unparsable := u.String()
	if conn := pgtest.Connect(t, good); conn == nil {
		t.Fatal("the role cannot log in")
	}

	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = reSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "SELECT * FROM customers WHERE snapshot_date = :date"}`)
		return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: CHURN_DSN, table: churn_scores, keep: 2}")
	}})
	// The same job with its SQL sink on another variable: the source logs
	// in, the sink does not.
	sinkJob := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = reSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "SELECT * FROM customers WHERE snapshot_date = :date"}`)
		return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: SINK_DSN, table: churn_scores, keep: 2}")
	}})
	env := func(dsn string) []string {
		return append(ortEnv(t), "CHURN_DSN="+dsn, "SINK_DSN="+wrong, "PAYMENTS_API_TOKEN="+token, "PGPASSWORD="+password)
	}
	secrets := map[string]string{"password": password, "token": token}
	var printed []result
	check := func(t *testing.T, res result) {
		t.Helper()
		printed = append(printed, res)
		for what, s := range secrets {
			if strings.Contains(res.stdout, s) || strings.Contains(res.stderr, s) {
				t.Errorf("the %s was printed\n%s", what, res)
			}
		}
	}
	// A wrong password is SQLSTATE 28P01: exit 2, no retry helps.
	tests := []struct {
		name string
		dsn  string
		args []string
		code int
		say  string // in stderr: the error still says what went wrong
	}{
		{"run, text logs", good, []string{"run", job, "--date", date20, "--log-format", "text", "--log-level", "debug", "--verbose"}, 0, ""},
		{"run, json logs", good, []string{"run", job, "--date", date20, "--log-format", "json", "--log-level", "debug", "--json"}, 0, ""},
		{"wrong password, text logs", wrong, []string{"run", job, "--date", date20, "--log-format", "text", "--log-level", "debug"}, 2, "password authentication failed"},
		{"wrong password, json logs", wrong, []string{"run", job, "--date", date20, "--log-format", "json", "--log-level", "debug", "--json"}, 2, "password authentication failed"},
		{"sink with the wrong password", good, []string{"run", sinkJob, "--date", date20, "--force", "--log-format", "json", "--log-level", "debug", "--json"}, 2, "password authentication failed"},
		{"unparsable DSN", unparsable, []string{"run", job, "--date", date20, "--log-format", "json", "--json"}, 2, "CHURN_DSN"},
		{"validate, text logs", good, []string{"validate", job, "--date", date20, "--log-format", "text", "--log-level", "debug"}, 0, ""},
		{"validate, json logs", good, []string{"validate", job, "--date", date20, "--log-format", "json", "--log-level", "debug", "--json"}, 0, ""},
		{"runs", good, []string{"runs", job}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runWith(t, batchscore, env(tc.dsn), tc.args...)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			if tc.say != "" && !strings.Contains(res.messages(), tc.say) {
				t.Errorf("stderr does not say %q\n%s", tc.say, res)
			}
			check(t, res)
		})
	}
	// show prints each stored manifest in full.
	for v := range manifests(t, table, date20) {
		check(t, runWith(t, batchscore, env(good), "show", job, v))
	}
	if len(printed) < len(tests) {
		t.Fatal("not every command ran")
	}

	// Nor in any file the runs left: results, quarantine, manifests,
	// reports, profiles, locks, leftovers.
	files := 0
	err = filepath.WalkDir(table, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err // current/<date> leads into versions/, walked anyway
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for what, s := range secrets {
			for _, form := range []string{s, url.QueryEscape(s), hex.EncodeToString([]byte(s))} {
				if bytes.Contains(data, []byte(form)) {
					t.Errorf("%s holds the %s", path, what)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ms := manifests(t, table, date20); len(ms) < 5 || files < 10 {
		t.Errorf("only %d manifests and %d files to search: the runs did not get far", len(ms), files)
	}
}
