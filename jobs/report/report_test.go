package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestJSONGolden(t *testing.T) {
	got, err := fixture().JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./jobs/report -run TestJSONGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("JSON differs from %s (rerun with -update if the change is meant):\n%s", golden, got)
	}
	var back Report
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("the JSON does not decode into a Report: %v", err)
	}
	if again, _ := back.JSON(); !bytes.Equal(again, got) {
		t.Error("decoding and encoding again changes the JSON")
	}
}

func TestJSONEmptyReportHasLists(t *testing.T) {
	b, err := (&Report{Job: "j"}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"rules":[]`, `"table":[]`, `"columns":[]`, `"pii":[]`, `"notes":[]`, `"breaches":[]`, `"scores":null`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("no %s in\n%s", key, b)
		}
	}
}

func TestJSONNonFinite(t *testing.T) {
	r := fixture()
	r.Columns[0].Mean = ptr(math.NaN())
	r.Columns[1].Drift.PSI = math.Inf(1)
	r.Scores.PSI = ptr(math.NaN())
	b, err := r.JSON()
	if err != nil {
		t.Fatalf("a NaN must not stop the report: %v", err)
	}
	if r.Columns[0].Mean != nil || r.Scores.PSI != nil || r.Columns[1].Drift.PSI != 0 {
		t.Error("non-finite numbers were kept")
	}
	note := r.Notes[len(r.Notes)-1]
	for _, want := range []string{"column age.mean", "column monthly_charges.drift.psi", "scores.psi"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q does not name %s", note, want)
		}
	}
	if !bytes.Contains(b, []byte("non-finite")) {
		t.Error("the JSON does not carry the note")
	}
}

func TestMask(t *testing.T) {
	r := fixture()
	r.Error = "row 17: ann@example.org is not allowed"
	r.Table = append(r.Table, TableResult{Name: "unique:email", Detail: "bob@example.org appears twice"})
	r.Columns[3].Drift = &Drift{Bins: []Bin{{"ann@example.org", 0.5, 0.5}}}
	r.Mask()
	first, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	r.Mask()
	second, _ := r.JSON()
	if !bytes.Equal(first, second) {
		t.Error("masking twice changes the report")
	}
	if s := r.Rules[0].Samples[0].Values; s["email"] != Masked || s["age"] != "-3" {
		t.Errorf("sample after Mask: %v", s)
	}
	if r.Columns[3].Top[0].Value != Masked || r.Columns[3].Drift.Bins[0].Label != "*** 1" {
		t.Errorf("profile of the PII column after Mask: %+v %+v", r.Columns[3].Top, r.Columns[3].Drift.Bins)
	}
	if r.Error != "row 17: *** is not allowed" || r.Table[len(r.Table)-1].Detail != "*** appears twice" {
		t.Errorf("free text after Mask: %q, %q", r.Error, r.Table[len(r.Table)-1].Detail)
	}
}

func TestPIINeverLeaks(t *testing.T) {
	raw := []string{"ann@example.org", "bob@example.org"}
	for _, tc := range []struct {
		name   string
		render func(*Report) ([]byte, error)
	}{
		{"json", (*Report).JSON},
		{"html", renderHTML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixture() // not masked: the renderer must do it
			r.Notes = append(r.Notes, "first bad row belongs to ann@example.org")
			out, err := tc.render(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range raw {
				if bytes.Contains(out, []byte(v)) {
					t.Errorf("%s output holds the raw PII value %q", tc.name, v)
				}
			}
			if !bytes.Contains(out, []byte(Masked)) {
				t.Errorf("%s output does not show the masked values", tc.name)
			}
		})
	}
}

func TestHTMLEscapes(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	const evilImg = `"><img src=x onerror=alert(2)>`
	r := fixture()
	r.Job = evil
	r.Error = evil
	r.Notes = append(r.Notes, evilImg)
	r.Gate.Breaches = []string{evil}
	r.Columns[0].Name = evil
	r.Columns[0].Drift.Bins[0].Label = evil
	r.Columns[2].Top[0].Value = evilImg
	r.Rules[0].Name, r.Rules[0].Column = evil, evil
	r.Rules[0].Samples[0].Values[evil] = evilImg
	r.Table[0].Detail = evil
	r.Scores.Previous = evilImg
	out, err := renderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	page := string(out)
	for _, bad := range []string{"<script", "<img", "onerror=alert(2)>"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page holds unescaped %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the escaped column name is not on the page")
	}
}

// TestHTMLSize feeds 200 rules of 1,000 samples and 500 columns: the caps
// keep the page small.
func TestHTMLSize(t *testing.T) {
	r := huge(200, 1000, 500)
	out, err := renderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("huge report: %d bytes of HTML", len(out))
	if len(out) > 2<<20 {
		t.Errorf("the page is %d bytes, more than 2 MiB", len(out))
	}
	page := string(out)
	if n := strings.Count(page, "<svg"); n != HTMLChartedColumns+1 {
		t.Errorf("%d charts, want %d columns and the scores", n, HTMLChartedColumns)
	}
	if !strings.Contains(page, "Not charted: ") || !strings.Contains(page, "and 350 more") {
		t.Error("the page does not say which columns were not charted")
	}
	if !strings.Contains(page, "5 sample rows (of 1000 kept) of 10,000 failed") {
		t.Error("the page does not say the samples were capped")
	}

	small, err := renderHTML(fixture())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical report: %d bytes of HTML", len(small))
}

var (
	tagRE  = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	linkRE = regexp.MustCompile(`(?i)\s(src|href|xlink:href|action|formaction|poster|data|srcset|background)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
)

func TestHTMLSelfContained(t *testing.T) {
	for name, r := range map[string]*Report{"succeeded": fixture(), "failed": failedFixture(), "huge": huge(5, 30, 130)} {
		t.Run(name, func(t *testing.T) {
			out, err := renderHTML(r)
			if err != nil {
				t.Fatal(err)
			}
			page := string(out)
			for _, bad := range []string{"http://", "https://", "//:", "@import", "<script", "<link", "<iframe", "<object", "<embed"} {
				if strings.Contains(strings.ToLower(page), bad) {
					t.Errorf("the page holds %q", bad)
				}
			}
			if strings.Contains(page, "url(") && !strings.Contains(page, "url(data:") {
				t.Error("the CSS loads a url()")
			}
			for _, tag := range tagRE.FindAllString(page, -1) {
				for _, m := range linkRE.FindAllStringSubmatch(tag, -1) {
					v := strings.Trim(m[2], `"'`)
					if !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, "data:") {
						t.Errorf("%s points outside the page: %s", m[1], tag)
					}
				}
			}
		})
	}
}

func TestHTMLStatus(t *testing.T) {
	clean := fixture()
	clean.Rules[2].Passed = true
	clean.Columns[1].Drift.Band, clean.Columns[2].Drift.Band = BandStable, BandStable
	clean.Columns[1].Drift.PSI, clean.Columns[2].Drift.PSI = 0.05, 0.05
	for _, tc := range []struct {
		name  string
		r     *Report
		class string
		label string
	}{
		{"clean", clean, `class="status ok"`, ">succeeded<"},
		{"warnings", fixture(), `class="status warn"`, ">succeeded with 3 warnings<"},
		{"failed", failedFixture(), `class="status bad"`, ">failed<"},
		{"interrupted", &Report{Status: StatusInterrupted, ExitCode: 130}, `class="status warn"`, ">interrupted<"},
		{"dry run", func() *Report { r := clean; r.Scores = nil; return r }(), `class="status ok"`, "not scored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderHTML(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{tc.class, tc.label} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("no %s on the page", want)
				}
			}
		})
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		most       float64
		step, ceil float64
		top        string
	}{
		{"empty", 0, 0.25, 1, "100%"},
		{"a third", 0.31, 0.1, 0.4, "40%"},
		{"a quarter", 0.24, 0.1, 0.3, "30%"},
		{"small", 0.013, 0.005, 0.015, "1.5%"},
		{"all in one bin", 1, 0.25, 1, "100%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ceil := ticks(tc.most)
			if math.Abs(step-tc.step) > 1e-12 || math.Abs(ceil-tc.ceil) > 1e-12 {
				t.Errorf("ticks(%v) = %v, %v; want %v, %v", tc.most, step, ceil, tc.step, tc.ceil)
			}
			if got := tickLabel(ceil, step); got != tc.top {
				t.Errorf("top label %q, want %q", got, tc.top)
			}
		})
	}
}

func renderHTML(r *Report) ([]byte, error) {
	var b bytes.Buffer
	err := r.WriteHTML(&b)
	return b.Bytes(), err
}

// A PII column's extremes and quantiles are single people's values: the
// mask drops them, and keeps the counts.
func TestMaskDropsPIIStatistics(t *testing.T) {
	v := 42.0
	r := &Report{PII: []string{"income"}, Columns: []ColumnReport{
		{Name: "income", Count: 10, Min: &v, Max: &v, Mean: &v, Std: &v, Quantiles: []Quantile{{P: 0.5, Value: v}}},
		{Name: "tenure", Count: 10, Min: &v},
	}}
	r.Mask()
	inc := r.Columns[0]
	if inc.Min != nil || inc.Max != nil || inc.Mean != nil || inc.Std != nil || inc.Quantiles != nil || inc.Count != 10 {
		t.Errorf("masked PII column: %+v", inc)
	}
	if r.Columns[1].Min == nil {
		t.Error("a column that is not PII lost its min")
	}
}

// TestHTMLBytesPerColumn bounds what each charted column adds to the
// page: the report is kept for every execution, so a page that grows
// (a chart drawn with more markup, data inlined twice) grows runs/.
func TestHTMLBytesPerColumn(t *testing.T) {
	page := func(columns int) int {
		r := fixture()
		r.Rules, r.Columns = nil, nil
		for i := range columns {
			c := ColumnReport{Name: fmt.Sprintf("feature_%02d", i), Type: "double", Count: 1e6, Min: ptr(0), Max: ptr(100),
				Mean: ptr(44.53), Std: ptr(13.8396)}
			for _, q := range []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99} {
				c.Quantiles = append(c.Quantiles, Quantile{q, q * 100})
			}
			d := &Drift{PSI: 0.0123, Band: "stable"}
			for b := range 10 {
				d.Bins = append(d.Bins, Bin{fmt.Sprintf("[%d, %d)", b*10, b*10+10), 0.0978 + float64(b)*0.001, 0.1033 - float64(b)*0.001})
			}
			c.Drift = d
			r.Columns = append(r.Columns, c)
		}
		out, err := renderHTML(r)
		if err != nil {
			t.Fatal(err)
		}
		return len(out)
	}
	perColumn := (page(30) - page(0)) / 30
	t.Logf("%d bytes per charted column of 10 bins", perColumn)
	if perColumn > 4500 {
		t.Errorf("a charted column of 10 bins adds %d bytes to the page, more than 4,500", perColumn)
	}
}
