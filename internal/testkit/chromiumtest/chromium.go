// Package chromiumtest drives a headless Chromium for the tests of the
// HTML pages batchscore writes (the run report, the trends site and the
// pages serve serves): a screenshot, or the DOM after load with every
// console message the page caused. The network is off: only loopback
// addresses resolve, so a page that fetched anything from elsewhere would
// fail to, and say so on the console.
package chromiumtest

import (
	"bufio"
	"bytes"
	"context"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
)

// Find returns a headless-capable Chromium: $BATCHSCORE_CHROMIUM, or
// chromium / chromium-browser on PATH (Debian: apt-get install chromium).
// Without one the test is skipped, or fails when CI is set.
func Find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BATCHSCORE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	onnxtest.Missing(t, "Chromium (apt-get install chromium, or set BATCHSCORE_CHROMIUM)")
	return ""
}

// run runs Chromium headless, offline, on url with the extra flags, and
// returns its stdout and stderr.
func run(t testing.TB, bin, url string, flags ...string) (stdout, stderr []byte) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", // containers give /dev/shm 64 MB
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
	}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir)
	cmd.WaitDelay = 5 * time.Second
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (after %v)\n%s", bin, url, err, time.Since(start), errs.String())
	}
	t.Logf("chromium took %v for %s", time.Since(start).Round(time.Millisecond), url)
	return out.Bytes(), errs.Bytes()
}

// Page is a page as Chromium loaded it.
type Page struct {
	DOM string // the document after load, serialised
	// Console holds every console message the page caused: a CSP
	// violation, a resource that failed to load, a script error.
	Console []string
}

// Load loads url (file:// or http://127.0.0.1:…) and returns its DOM and
// console messages.
func Load(t testing.TB, bin, url string) Page {
	t.Helper()
	out, errs := run(t, bin, url, "--dump-dom")
	p := Page{DOM: string(out)}
	sc := bufio.NewScanner(bytes.NewReader(errs))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, ":CONSOLE") {
			p.Console = append(p.Console, line)
		}
	}
	return p
}

// Screenshot renders url and decodes the PNG of its first width×height
// pixels.
func Screenshot(t testing.TB, bin, url string, width, height int) image.Image {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "shot.png")
	_, errs := run(t, bin, url, "--screenshot="+shot, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height))
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, errs)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	return img
}

// Chart is one chart of a page: the points it draws (<circle class="pt">,
// or in a heat map <rect class="cell">) and the count its data-points
// (data-cells) attribute states.
type Chart struct {
	Drawn, Said int
}

// Charts lists the page's charts (<svg data-chart=NAME>) by name.
func (p Page) Charts() map[string]Chart {
	out := map[string]Chart{}
	for _, svg := range elements(p.DOM, "<svg ", "</svg>") {
		name, ok := attr(svg, "data-chart")
		if !ok {
			continue
		}
		var c Chart
		if said, ok := attr(svg, "data-cells"); ok {
			c.Drawn = strings.Count(svg, `<rect class="cell `)
			c.Said, _ = strconv.Atoi(said)
		} else {
			said, _ := attr(svg, "data-points")
			c.Drawn = strings.Count(svg, `<circle class="pt `)
			c.Said, _ = strconv.Atoi(said)
		}
		out[name] = c
	}
	return out
}

// Links lists the page's href values, unescaped, but data: URLs.
func (p Page) Links() []string {
	var out []string
	for _, a := range elements(p.DOM, "href=\"", "\"") {
		v := strings.TrimSuffix(strings.TrimPrefix(a, "href=\""), "\"")
		if !strings.HasPrefix(v, "data:") {
			out = append(out, html.UnescapeString(v))
		}
	}
	return out
}

// Elements lists the page's elements that start with open (e.g. "<svg ")
// up to the end of close.
func (p Page) Elements(open, close string) []string { return elements(p.DOM, open, close) }

func elements(s, open, close string) []string {
	var out []string
	for {
		i := strings.Index(s, open)
		if i < 0 {
			return out
		}
		j := strings.Index(s[i+len(open):], close)
		if j < 0 {
			return out
		}
		end := i + len(open) + j + len(close)
		out = append(out, s[i:end])
		s = s[end:]
	}
}

// attr is the value of an attribute of an element's start tag.
func attr(elem, name string) (string, bool) {
	tag, _, _ := strings.Cut(elem, ">")
	_, v, ok := strings.Cut(tag, " "+name+`="`)
	v, _, _ = strings.Cut(v, `"`)
	return v, ok
}
