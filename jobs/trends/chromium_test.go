package trends

import (
	"net/url"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/chromiumtest"
)

// TestPagesInChromium loads the static site from files in headless
// Chromium with the network off: no console message (no CSP violation,
// nothing failed to load), every chart with the right number of points,
// and every link resolving. (The live pages are loaded the same way by
// the end-to-end test of serve, TestTrendsServeAuthAndPages.)
func TestPagesInChromium(t *testing.T) {
	bin := chromiumtest.Find(t)
	dir := t.TempDir()
	h, _, site := writeSite(t, dir, 45, 6)
	checkInChromium(t, bin, "file://"+site+"/", h.expectedPoints(), func(url string) bool {
		_, err := readRegular(strings.TrimPrefix(url, "file://"))
		return strings.HasPrefix(url, "file://") && err == nil
	})
}

// checkInChromium loads base's jobs list and its first job's page in
// Chromium and checks them: no console message, the charts' points as
// want says, every link resolving (resolves fetches a URL).
func checkInChromium(t *testing.T, bin, base string, want map[string]int, resolves func(string) bool) {
	t.Helper()
	index := chromiumtest.Load(t, bin, base+"index.html")
	if len(index.Console) > 0 {
		t.Errorf("%sindex.html: console messages:\n%s", base, strings.Join(index.Console, "\n"))
	}
	jobLink := ""
	for _, l := range index.Links() {
		if strings.HasPrefix(l, "jobs/") {
			jobLink = l
			break
		}
	}
	if jobLink == "" {
		t.Fatalf("%sindex.html links no job:\n%.2000s", base, index.DOM)
	}
	page := chromiumtest.Load(t, bin, base+jobLink)
	if len(page.Console) > 0 {
		t.Errorf("%s%s: console messages:\n%s", base, jobLink, strings.Join(page.Console, "\n"))
	}
	got := chartPoints(t, page.DOM)
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s%s: chart %s has %d points in Chromium's DOM, want %d", base, jobLink, name, got[name], n)
		}
	}
	pageURL, _ := url.Parse(base + jobLink)
	links := 0
	for _, l := range page.Links() {
		ref, err := url.Parse(l)
		if err != nil {
			t.Errorf("link %q: %v", l, err)
			continue
		}
		links++
		if u := pageURL.ResolveReference(ref).String(); !resolves(u) {
			t.Errorf("%s%s: link %s does not resolve (%s)", base, jobLink, l, u)
		}
	}
	if links < 3 {
		t.Errorf("%s%s: only %d links", base, jobLink, links)
	}
	t.Logf("%s: %d charts, %d links checked", base, len(got), links)
}
