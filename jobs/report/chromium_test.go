package report

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/chromiumtest"
)

// screenshot renders page in headless Chromium, offline, and decodes the
// PNG it takes of the first 1200×2000 pixels.
func screenshot(t *testing.T, bin string, page []byte) image.Image {
	t.Helper()
	html := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(html, page, 0o644); err != nil {
		t.Fatal(err)
	}
	return chromiumtest.Screenshot(t, bin, "file://"+html, 1200, 2000)
}

// TestHTMLRendersInChromium checks that a real browser draws the page, and
// draws the status in its colour.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromiumtest.Find(t)
	clean := fixture()
	clean.Rules[2].Passed = true
	for i := range clean.Columns {
		if d := clean.Columns[i].Drift; d != nil {
			d.Band, d.PSI = BandStable, 0.02
		}
	}
	for _, tc := range []struct {
		name   string
		r      *Report
		status color.RGBA // the status badge's background
	}{
		{"succeeded", clean, color.RGBA{0x1a, 0x7f, 0x37, 0xff}},
		{"failed", failedFixture(), color.RGBA{0xcf, 0x22, 0x2e, 0xff}},
		{"warnings", fixture(), color.RGBA{0xbf, 0x87, 0x00, 0xff}},
		{"challenger, fallback and review", safetyFixture(), color.RGBA{0xbf, 0x87, 0x00, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			page, err := renderHTML(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			img := screenshot(t, bin, page)
			b := img.Bounds()
			if b.Dx() < 1000 || b.Dy() < 1000 {
				t.Fatalf("screenshot is %v", b)
			}
			colours := map[color.RGBA]int{}
			status := 0
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
					colours[c]++
					if near(c, tc.status, 10) {
						status++
					}
				}
			}
			most := 0 // the page background
			for _, n := range colours {
				most = max(most, n)
			}
			drawn := 1 - float64(most)/float64(b.Dx()*b.Dy())
			t.Logf("%d colours, %.1f%% off the background, %d status pixels", len(colours), drawn*100, status)
			if len(colours) < 100 {
				t.Errorf("only %d distinct colours: the page looks blank", len(colours))
			}
			if drawn < 0.15 {
				t.Errorf("only %.1f%% of the pixels differ from the background", drawn*100)
			}
			if status < 2000 { // the badge alone is about 250×36
				t.Errorf("only %d pixels of the status colour %v", status, tc.status)
			}
		})
	}
}

func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}
