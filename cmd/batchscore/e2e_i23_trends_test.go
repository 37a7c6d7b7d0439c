package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/chromiumtest"
)

const (
	date18 = "2026-11-18"
	date21 = "2026-11-21" // no snapshot: a failed execution
)

// reportColumns counts, in the run reports of a table's current
// versions, the columns with a drift PSI: the heat map's cells.
func driftCells(t *testing.T, table string, dates ...string) int {
	t.Helper()
	n := 0
	for _, date := range dates {
		v, err := os.Readlink(filepath.Join(table, "current", date))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(table, "runs", date, filepath.Base(v)+".report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Columns []struct {
				Drift *struct{} `json:"drift"`
			} `json:"columns"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Columns {
			if c.Drift != nil {
				n++
			}
		}
	}
	return n
}

// writeOutcomesFile writes what `batchscore outcomes` leaves for a date
// (format batchscore-outcomes/1) against its current version.
func writeOutcomesFile(t *testing.T, table, date, model string, auc float64) {
	t.Helper()
	v, err := os.Readlink(filepath.Join(table, "current", date))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"model_version": model, "rows_scored": 2000, "labelled": 2000, "matched": 2000, "labels_without_score": 0,
		"base_rate": 0.2, "auc": auc, "gini": 2*auc - 1, "ks": 0.45, "brier": 0.12, "log_loss": 0.4, "ece": 0.03,
		"calibration": []any{}, "confusion": map[string]int{"tp": 1, "fp": 1, "tn": 1, "fn": 1}, "precision": 0.5, "recall": 0.5}
	doc := map[string]any{"format": "batchscore-outcomes/1", "job": "churn_nightly", "date": date, "version": filepath.Base(v),
		"run_id": "x", "evaluated_at": "2026-12-20T02:00:00Z", "labels": map[string]any{"source": "labels/*.parquet", "label": "churned", "rows": 2000},
		"threshold": 0.5, "champion": m}
	data, _ := json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(table, "runs", date, "outcomes-20261220T020000Z.json"), data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// batchscore trends through the binary: three dates scored with model
// versions 2026.11, 2026.12 and 2026.11 again (a rollback), a failed
// fourth, an outcomes evaluation; the site has every chart with a point
// per date, the marks, and links that resolve offline.
func TestI23TrendsSiteThroughTheBinary(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	setModel := func(v string) {
		data, err := os.ReadFile(job)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(string(data), "version: churn_gbm-2026.11", "version: "+v, 1)
		text = strings.Replace(text, "version: churn_gbm-2026.12", "version: "+v, 1)
		os.WriteFile(job, []byte(text), 0o644)
	}
	for _, run := range []struct{ date, model string }{{date18, "churn_gbm-2026.11"}, {date19, "churn_gbm-2026.12"}, {date20, "churn_gbm-2026.11"}} {
		setModel(run.model)
		if res := bs(t, "run", job, "--date", run.date); res.code != 0 {
			t.Fatal(res)
		}
	}
	if res := bs(t, "run", job, "--date", date21); res.code != 1 {
		t.Fatalf("a date without a snapshot: want exit 1\n%s", res)
	}
	writeOutcomesFile(t, table, date18, "churn_gbm-2026.11", 0.81)

	site := filepath.Join(tmp, "site")
	res := bs(t, "trends", job, "--out", site)
	if res.code != 0 || !strings.Contains(res.stdout, "1 job(s), 4 logical date(s)") {
		t.Fatal(res)
	}
	index, err := os.ReadFile(filepath.Join(site, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	pagePath := filepath.Join(site, "jobs", "churn_nightly", "index.html")
	data, err := os.ReadFile(pagePath)
	if err != nil {
		t.Fatal(err)
	}
	page := chromiumtest.Page{DOM: string(data)}
	want := map[string]int{
		"rows": 2 * 4, "quarantine": 4, "quantiles": 5 * 3, "score_psi": 2,
		"psi": driftCells(t, table, date18, date19, date20), "auc": 2, "calibration": 2,
	}
	charts := page.Charts()
	for name, n := range want {
		if c := charts[name]; c.Drawn != n || c.Said != n {
			t.Errorf("chart %s: %d points drawn, %d said, want %d", name, c.Drawn, c.Said, n)
		}
	}
	for _, mark := range []string{"2026-11-19: model churn_gbm-2026.12 (was churn_gbm-2026.11)",
		"2026-11-20: rollback to model churn_gbm-2026.11 (from churn_gbm-2026.12)", "2026-11-21: 1 failed execution(s)"} {
		if !strings.Contains(page.DOM, mark) {
			t.Errorf("the page lacks the mark %q", mark)
		}
	}
	links := 0
	for _, l := range page.Links() {
		links++
		if _, err := os.Stat(filepath.Join(filepath.Dir(pagePath), filepath.FromSlash(l))); err != nil {
			t.Errorf("link %s does not resolve: %v", l, err)
		}
	}
	// 4 manifests, 3 reports (the failed run has none), 1 outcomes file, the jobs list.
	if links != 4+3+1+1 {
		t.Errorf("%d links, want 9", links)
	}
	for _, p := range []string{string(index), page.DOM} {
		for _, bad := range []string{"<script", "http://", "https://", " src="} {
			if strings.Contains(p, bad) {
				t.Errorf("a page holds %q", bad)
			}
		}
	}

	// --from/--to bound the dates; a bad date is a usage error.
	if res := bs(t, "trends", job, "--from", date19, "--to", date20, "--out", filepath.Join(tmp, "part")); res.code != 0 || !strings.Contains(res.stdout, "2 logical date(s)") {
		t.Error(res)
	}
	for _, args := range [][]string{{"--from", "2026-02-30"}, {"--from", date20, "--to", date19}, {}} {
		res := bs(t, append([]string{"trends", job}, args...)...)
		if res.code != 2 {
			t.Errorf("trends %v: want exit 2\n%s", args, res)
		}
	}
}

// serve's pages and their lock: a token off loopback, 401 without it or
// with a wrong one, no way out of the table's runs/, a CSP everywhere;
// headless Chromium, offline, loads the live pages (through a proxy that
// adds the token) without a console message, with every chart's points
// and every link answering.
func TestI23TrendsServeAuthAndPages(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	jobsDir := filepath.Join(tmp, "jobs")
	os.MkdirAll(jobsDir, 0o755)
	table := filepath.Join(tmp, "scores")
	job := serveJob(t, jobsDir, "churn.yaml", "churn", "0 2 1 1 *", 0, jobOpts{table: table})
	for _, d := range []string{date18, date19} {
		if res := bs(t, "run", job, "--date", d); res.code != 0 {
			t.Fatal(res)
		}
	}
	const token = "e2e-token-0123456789abcdef"
	tokenFile := filepath.Join(tmp, "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)

	// Off loopback without a token: refused, exit 2, nothing served.
	res := bs(t, "serve", "--jobs", jobsDir, "--listen", "0.0.0.0:0")
	if res.code != 2 || !strings.Contains(res.messages(), "--token-file") {
		t.Errorf("serve on 0.0.0.0 without a token: want exit 2 naming --token-file\n%s", res)
	}
	short := filepath.Join(tmp, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	if res := bs(t, "serve", "--jobs", jobsDir, "--listen", "0.0.0.0:0", "--token-file", short); res.code != 2 || strings.Contains(res.stderr, "abc\"") {
		t.Errorf("a short token: want exit 2 without the token\n%s", res)
	}

	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, batchscore, "serve", "--jobs", jobsDir, "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--token-file", tokenFile, "--log-format", "json")
	cmd.Env = ortEnv(t)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, auth string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _, _ := get("/healthz", ""); code == 200 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("serve did not answer /healthz\n%s", stderr.String())
		}
	}
	bearer := "Bearer " + token
	for _, tc := range []struct {
		path, auth string
		code       int
	}{
		{"/healthz", "", 200},
		{"/", "", 401},
		{"/", "Bearer wrong-token-0123456789abcdef", 401},
		{"/", bearer, 200},
		{"/metrics", "", 401},
		{"/runs", "", 401},
		{"/jobs/churn/", "", 401},
		{"/jobs/churn/", bearer, 200},
		{"/jobs/churn/runs/" + date18 + "/..%2F..%2F..%2Ftoken", bearer, 404},
		{"/jobs/churn/runs/..%2F..%2F..%2F/token", bearer, 404},
		{"/jobs/churn/runs/" + date18 + "/%2e%2e%2f%2e%2e%2fchurn.yaml", bearer, 404},
		{"/jobs/nobody/", bearer, 404},
	} {
		code, hd, body := get(tc.path, tc.auth)
		if code != tc.code {
			t.Errorf("GET %s (auth %v): %d, want %d\n%.300s", tc.path, tc.auth != "", code, tc.code, body)
		}
		if hd.Get("Content-Security-Policy") == "" || !strings.Contains(hd.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", tc.path, hd.Get("Content-Security-Policy"))
		}
		if strings.Contains(body, token) {
			t.Errorf("GET %s shows the token", tc.path)
		}
	}
	// An unencoded ../ never reaches a file: sent as written, not cleaned by a client.
	if status := rawGet(t, port, "/jobs/churn/runs/"+date18+"/../../../token", bearer); strings.Contains(status, " 200 ") {
		t.Errorf("a raw ../ path: %s", status)
	}

	checkLivePages(t, base, bearer, table)
}

// checkLivePages loads the served index and job pages in Chromium, through
// a proxy that adds the token: no console message, every chart's points
// drawn and said, every link answering with a CSP.
func checkLivePages(t *testing.T, base, bearer, table string) {
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	director := proxy.Director
	proxy.Director = func(r *http.Request) { director(r); r.Header.Set("Authorization", bearer) }
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	bin := chromiumtest.Find(t)
	index := chromiumtest.Load(t, bin, srv.URL+"/")
	jobPage := chromiumtest.Load(t, bin, srv.URL+"/jobs/churn/")
	for name, p := range map[string]chromiumtest.Page{"/": index, "/jobs/churn/": jobPage} {
		if len(p.Console) > 0 {
			t.Errorf("%s: console messages:\n%s", name, strings.Join(p.Console, "\n"))
		}
	}
	if !strings.Contains(index.DOM, `href="jobs/churn/index.html"`) {
		t.Errorf("the jobs list does not link the job:\n%.2000s", index.DOM)
	}
	want := map[string]int{"rows": 4, "quarantine": 2, "quantiles": 10, "score_psi": 1, "psi": driftCells(t, table, date18, date19)}
	charts := jobPage.Charts()
	for name, n := range want {
		if c := charts[name]; c.Drawn != n || c.Said != n {
			t.Errorf("live chart %s: %d points drawn, %d said, want %d", name, c.Drawn, c.Said, n)
		}
	}
	pageURL, _ := url.Parse(srv.URL + "/jobs/churn/")
	links := 0
	for _, l := range jobPage.Links() {
		ref, _ := url.Parse(l)
		u := pageURL.ResolveReference(ref).String()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		links++
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("link %s: %s, CSP %q", u, resp.Status, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if links != 2+2+1 { // 2 manifests, 2 reports, the jobs list
		t.Errorf("%d links on the live page, want 5", links)
	}
}

// rawGet sends a request line exactly as given and returns the status line.
func rawGet(t *testing.T, port int, path, auth string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", path, auth)
	status, _ := bufio.NewReader(c).ReadString('\n')
	return status
}
