package trends

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/chromiumtest"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	h := writeHistory(t, dir, 60, 12)
	// A file of another format is named in a note; the date's others count.
	os.WriteFile(filepath.Join(dir, "table", "runs", "2026-01-01", "outcomes-20990101T000000Z.json"), []byte(`{"format":"other/2"}`), 0o640)
	j, err := Collect(h.job, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Days) != len(h.dates) {
		t.Fatalf("%d days, want %d", len(j.Days), len(h.dates))
	}
	for i, d := range j.Days {
		if d.Date != h.dates[i] {
			t.Fatalf("day %d is %s, want %s", i, d.Date, h.dates[i])
		}
		wantFailed := h.failed[d.Date] || h.onlyFail[d.Date]
		if (len(d.Failed) > 0) != wantFailed {
			t.Errorf("%s: %d failed executions, want failed=%v", d.Date, len(d.Failed), wantFailed)
		}
		if !h.onlyFail[d.Date] && (!d.Run.Current || d.Run.Status != "succeeded") {
			t.Errorf("%s: the day's run is %+v, want the current, succeeded one", d.Date, d.Run)
		}
		if d.Run.Model != h.models[d.Date] {
			t.Errorf("%s: model %q, want %q", d.Date, d.Run.Model, h.models[d.Date])
		}
		if (d.Outcome != nil) != h.outcomes[d.Date] {
			t.Errorf("%s: outcome %v, want %v", d.Date, d.Outcome, h.outcomes[d.Date])
		}
		if d.Outcome != nil && (d.Outcome.AUC == nil || *d.Outcome.AUC < 0.7 || !d.Outcome.HTML || (d.Outcome.ChallengerAUC != nil) != (i%10 == 0)) {
			t.Errorf("%s: outcome %+v: want the newer evaluation (AUC >= 0.7), its page, a challenger AUC every 10th date (else null)", d.Date, d.Outcome)
		}
		if got := d.Quarantined["email:not_null"]; got != int64(i%4) {
			t.Errorf("%s: %d quarantined by email:not_null, want %d", d.Date, got, i%4)
		}
		if _, ok := d.Quarantined["age:range"]; ok {
			t.Errorf("%s: a warn rule counted as quarantine", d.Date)
		}
	}
	if len(j.Notes) != 1 || !strings.Contains(j.Notes[0], `2026-01-01: outcomes file outcomes-20990101T000000Z.json: format "other/2"`) {
		t.Errorf("notes %q", j.Notes)
	}
	var changes, rollbacks []string
	for _, d := range j.Days {
		if d.ModelChange {
			changes = append(changes, d.Date)
		}
		if d.Rollback {
			rollbacks = append(rollbacks, d.Date)
		}
	}
	if strings.Join(changes, ",") != "2026-01-21,2026-02-10" || strings.Join(rollbacks, ",") != "2026-02-10" {
		t.Errorf("model changes %v, rollbacks %v; want v2 on 2026-01-21 and back to v1 (a rollback) on 2026-02-10", changes, rollbacks)
	}
	if j.Features[0] != "f11" || j.Features[len(j.Features)-1] != "f00" {
		t.Errorf("features not most drifted first: %v", j.Features)
	}
	if len(j.Runs) != len(h.dates)+len(h.failed) {
		t.Errorf("%d runs, want %d", len(j.Runs), len(h.dates)+len(h.failed))
	}
	for i := 1; i < len(j.Runs); i++ {
		if j.Runs[i].Version > j.Runs[i-1].Version {
			t.Fatalf("runs not newest first")
		}
	}

	part, err := Collect(h.job, "2026-01-10", "2026-01-19")
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Days) != 10 || part.Days[0].Date != "2026-01-10" || part.Days[9].Date != "2026-01-19" {
		t.Errorf("--from/--to: %d days", len(part.Days))
	}
}

// chartPoints counts the points of each chart of a page, and checks that
// each chart's data-points attribute says as many.
func chartPoints(t *testing.T, page string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, c := range (chromiumtest.Page{DOM: page}).Charts() {
		if c.Drawn != c.Said {
			t.Errorf("chart %s draws %d points, says %d", name, c.Drawn, c.Said)
		}
		out[name] = c.Drawn
	}
	return out
}

// expectedPoints is how many points each chart must have, from the history.
func (h *history) expectedPoints() map[string]int {
	n, evaluated := len(h.dates), len(h.outcomes)
	return map[string]int{
		"rows":        2 * n,
		"quarantine":  2 * n, // the total and the one reject rule
		"quantiles":   5 * n,
		"score_psi":   n,
		"psi":         h.features * n,
		"auc":         2*evaluated + h.shadow, // AUC and KS, and the challenger's AUC where not null
		"calibration": 2 * evaluated,
		// The dates with a challenger have two arms.
		"arm_auc":            2 * h.shadow,
		"arm_auc_difference": h.shadow,
		"arm_rows":           2 * h.shadow,
		"arm_score_psi":      2 * h.shadow,
	}
}

func TestJobPage(t *testing.T) {
	h := writeHistory(t, t.TempDir(), 60, 12)
	j, err := Collect(h.job, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteJob(&b, j); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	got := chartPoints(t, page)
	for name, want := range h.expectedPoints() {
		if got[name] != want {
			t.Errorf("chart %s: %d points, want %d", name, got[name], want)
		}
	}
	for _, want := range []string{`class="mk mk-model"`, `class="mk mk-rollback"`, `class="mk mk-failed"`, "rollback to model v1 (from v2)",
		"arm challenger AUC: 0.6600 (95 % interval 0.6000 to 0.7200)", "arm challenger AUC − reference: -0.0400 (95 % interval -0.1100 to 0.0300)",
		"arm challenger score PSI: 0.1200", `<b class="st-failed">worse</b>`,
		`http-equiv="Content-Security-Policy" content="` + strings.ReplaceAll(CSP, "'", "&#39;") + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	rows := (chromiumtest.Page{DOM: page}).Elements(`<svg class="chart" data-chart="rows"`, "</svg>")[0]
	if n := strings.Count(rows, `class="mk mk-failed"`); n != len(h.failed)+len(h.onlyFail) {
		t.Errorf("%d failed marks, want %d", n, len(h.failed)+len(h.onlyFail))
	}
	assertSafe(t, page, h.secret)
}

// assertSafe: no script, no external reference, no PII value.
func assertSafe(t *testing.T, page, secret string) {
	t.Helper()
	low := strings.ToLower(page)
	for _, bad := range []string{"<script", "javascript:", "http://", "https://", "src=", "@import", "url(", secret} {
		if strings.Contains(low, strings.ToLower(bad)) {
			i := strings.Index(low, strings.ToLower(bad))
			t.Errorf("page holds %q: …%s…", bad, page[max(0, i-80):min(len(page), i+80)])
		}
	}
}

// 365 dates of 40 features render in a few seconds; the bound is
// generous (a loaded machine, -race), the figure is logged.
func TestYearRendersQuickly(t *testing.T) {
	dir := t.TempDir()
	h := writeHistory(t, dir, 365, 40)
	start := time.Now()
	j, err := Collect(h.job, "", "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := WriteSite(filepath.Join(dir, "site"), []*Job{j})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("365 dates, 40 features: collected and written (%d files) in %v", n, took)
	if took > 30*time.Second {
		t.Errorf("365 dates took %v", took)
	}
	page, err := os.ReadFile(filepath.Join(dir, "site", "jobs", "churn", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	got := chartPoints(t, string(page))
	for name, want := range h.expectedPoints() {
		if got[name] != want {
			t.Errorf("chart %s: %d points, want %d", name, got[name], want)
		}
	}
	t.Logf("job page: %d bytes", len(page))
}

// Every link of the static site resolves to a file in it.
func TestSiteLinksResolve(t *testing.T) {
	dir := t.TempDir()
	h, j, site := writeSite(t, dir, 30, 5)
	links := 0
	for _, page := range []string{"index.html", "jobs/churn/index.html"} {
		data, err := os.ReadFile(filepath.Join(site, page))
		if err != nil {
			t.Fatal(err)
		}
		assertSafe(t, string(data), h.secret)
		for _, l := range (chromiumtest.Page{DOM: string(data)}).Links() {
			links++
			if _, err := os.Stat(filepath.Join(site, filepath.Dir(page), filepath.FromSlash(l))); err != nil {
				t.Errorf("%s links %s: %v", page, l, err)
			}
		}
	}
	// manifests and reports of 30 dates and 4 failed runs, 6 evaluations, the way back
	if want := 2*(30+len(h.failed)) + 2*len(h.outcomes) + 1 + 1; links != want {
		t.Errorf("%d links, want %d", links, want)
	}
	// A second write copies nothing again.
	if n, err := WriteSite(site, []*Job{j}); err != nil || n != 2 {
		t.Errorf("rewrite wrote %d files (%v), want the 2 pages only", n, err)
	}
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	h := writeHistory(t, dir, 12, 3)
	// A file outside the table that a traversal would reach.
	os.WriteFile(filepath.Join(dir, "secret.json"), []byte(`{"password":"x"}`), 0o600)
	os.Symlink(filepath.Join(dir, "secret.json"), filepath.Join(dir, "table", "runs", "2026-01-02", "20260103T000000.000Z-evil.json"))
	srv := httptest.NewServer(Handler(func() []*spec.Job { return []*spec.Job{h.job} }, nil))
	defer srv.Close()
	j, _ := Collect(h.job, "", "")
	r := j.Runs[0]
	for _, tc := range []struct {
		path string
		code int
		has  string
	}{
		{"/", 200, `href="jobs/churn/index.html"`},
		{"/index.html", 200, "churn"},
		{"/jobs/churn/", 200, `data-chart="rows"`},
		{"/jobs/churn/", 200, `data-chart="arm_auc"`},
		{"/jobs/churn/index.html?from=2026-01-05", 200, "8 logical dates"},
		{"/jobs/churn/?to=2026-13-01", 400, ""},
		{"/jobs/nobody/", 404, ""},
		{"/jobs/churn/runs/" + r.Date + "/" + r.Version + ".json", 200, `"logical_date": "` + r.Date + `"`},
		{"/jobs/churn/runs/" + r.Date + "/" + r.Version + ".report.html", 200, "report " + r.Version},
		{"/jobs/churn/runs/" + r.Date + "/" + r.Version + ".profile.json", 404, ""},
		{"/jobs/churn/runs/2026-01-02/20260103T000000.000Z-evil.json", 404, ""},
		{"/jobs/churn/runs/..%2F..%2F..%2Fsecret.json/x", 404, ""},
		{"/jobs/churn/runs/2026-01-02/..%2F..%2F..%2Fsecret.json", 404, ""},
		{"/jobs/churn/runs/2026-01-02/%2e%2e", 404, ""},
		{"/jobs/..%2F..%2F/runs/2026-01-02/x.json", 404, ""},
		{"/jobs/churn/runs/../../../secret.json", 404, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		resp, err := (&http.Transport{}).RoundTrip(req) // no redirect followed
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		code := resp.StatusCode
		if (code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect) && tc.code == 404 {
			// The mux cleans "/../": the cleaned path must not serve anything either.
			loc := resp.Header.Get("Location")
			if strings.Contains(loc, "..") {
				t.Errorf("%s redirects to %s", tc.path, loc)
			}
			continue
		}
		if code != tc.code || !strings.Contains(b.String(), tc.has) {
			t.Errorf("GET %s: %d, want %d with %q\n%.300s", tc.path, code, tc.code, tc.has, b.String())
		}
		if strings.Contains(b.String(), "password") {
			t.Errorf("GET %s served the file outside the table", tc.path)
		}
	}
}

// The manifests the pages link carry the report's masked error, never a
// PII value the manifest recorded; the copy and the served file agree,
// and keep the rest of the manifest.
func TestManifestsMasked(t *testing.T) {
	dir := t.TempDir()
	h, j, site := writeSite(t, dir, 12, 3)
	srv := httptest.NewServer(Handler(func() []*spec.Job { return []*spec.Job{h.job} }, nil))
	defer srv.Close()
	failed := 0
	for _, r := range j.Runs {
		if !r.Failed() {
			continue
		}
		failed++
		raw, _ := os.ReadFile(filepath.Join(dir, "table", "runs", r.Date, r.Version+".json"))
		if !strings.Contains(string(raw), h.secret) {
			t.Fatalf("the fixture's manifest of %s does not hold the PII value", r.Version)
		}
		copied, err := os.ReadFile(filepath.Join(site, "jobs", "churn", "runs", r.Date, r.Version+".json"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(srv.URL + "/jobs/churn/runs/" + r.Date + "/" + r.Version + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var served bytes.Buffer
		served.ReadFrom(resp.Body)
		resp.Body.Close()
		for what, data := range map[string]string{"copy": string(copied), "served": served.String()} {
			var m report.Manifest
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatalf("%s manifest of %s: %v", what, r.Version, err)
			}
			if strings.Contains(data, h.secret) || !strings.Contains(m.Error, report.Masked) || m.Version != r.Version || m.Counts.Read == 0 {
				t.Errorf("%s manifest of %s: error %q, version %q, counts %+v", what, r.Version, m.Error, m.Version, m.Counts)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no failed run to check")
	}
}
