package trends

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Handler serves the pages live, for `batchscore serve`:
//
//   - / and /index.html: the jobs list;
//   - /jobs/<name>/ and /jobs/<name>/index.html: a job's page, over every
//     date or ?from=YYYY-MM-DD&to=YYYY-MM-DD;
//   - /jobs/<name>/runs/<date>/<file>: a run's manifest, report or
//     outcomes file, as the job page links them.
//
// jobs is called on every request: the daemon's jobs as loaded now. A
// file is served only when the job is loaded, the date is a date and the
// name is one of a run's records (a manifest, <version>.report.{html,json},
// outcomes-<time>.{json,html}), a regular file inside the table's runs/
// folder: anything else, a path with "..", an encoded slash or a symlink
// leading out of the table included, is 404. Every response is built
// before it is sent: an error is a 500, never half a page.
func Handler(jobs func() []*spec.Job, log *slog.Logger) http.Handler {
	h := &handler{jobs: jobs, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.index)
	mux.HandleFunc("GET /index.html", h.index)
	mux.HandleFunc("GET /jobs/{job}/{$}", h.job)
	mux.HandleFunc("GET /jobs/{job}/index.html", h.job)
	mux.HandleFunc("GET /jobs/{job}/runs/{date}/{file}", h.file)
	return mux
}

type handler struct {
	jobs func() []*spec.Job
	log  *slog.Logger
}

func (h *handler) find(name string) *spec.Job {
	for _, j := range h.jobs() {
		if j.Name == name {
			return j
		}
	}
	return nil
}

func (h *handler) index(w http.ResponseWriter, _ *http.Request) {
	var entries []IndexEntry
	for _, job := range h.jobs() {
		j, err := Summary(job)
		e := IndexEntry{Name: job.Name, Job: j}
		if err != nil {
			e.Job, e.Err = nil, err.Error()
		}
		entries = append(entries, e)
	}
	var b bytes.Buffer
	if err := WriteIndex(&b, entries); err != nil {
		h.fail(w, err)
		return
	}
	writeHTML(w, b.Bytes())
}

func (h *handler) job(w http.ResponseWriter, r *http.Request) {
	job := h.find(r.PathValue("job"))
	if job == nil {
		http.NotFound(w, r)
		return
	}
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	for _, d := range []string{from, to} {
		if d != "" && !isDate(d) {
			http.Error(w, "from and to are dates written YYYY-MM-DD", http.StatusBadRequest)
			return
		}
	}
	j, err := Collect(job, from, to)
	if err != nil {
		h.fail(w, err)
		return
	}
	var b bytes.Buffer
	if err := WriteJob(&b, j); err != nil {
		h.fail(w, err)
		return
	}
	writeHTML(w, b.Bytes())
}

// runFileName is a run's record: <version>.json, <version>.report.html or
// .json, outcomes-<time>.json or .html. Versions are <start>.<ms>Z-<hex>.
var runFileName = regexp.MustCompile(`^(?:[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9A-Za-z_-]+(?:\.json|\.report\.html|\.report\.json)|outcomes-[0-9A-Za-z_-]+\.(?:json|html))$`)

func (h *handler) file(w http.ResponseWriter, r *http.Request) {
	job := h.find(r.PathValue("job"))
	date, name := r.PathValue("date"), r.PathValue("file")
	if job == nil || !isDate(date) || !runFileName.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	root := job.Output.Table
	if table.IsRemote(root) {
		local, err := table.LocalRoot(root)
		if err != nil {
			h.fail(w, err)
			return
		}
		root = local
	}
	runs, err := filepath.EvalSymlinks(filepath.Join(root, "runs"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	path, err := filepath.EvalSymlinks(filepath.Join(runs, date, name))
	if err != nil || !strings.HasPrefix(path, runs+string(filepath.Separator)) {
		http.NotFound(w, r)
		return
	}
	data, err := readRegular(path)
	// A manifest (<start>.<ms>Z-<hex>.json: one dot before .json) in its
	// public form.
	if version, ok := strings.CutSuffix(name, ".json"); ok && err == nil && strings.Count(version, ".") == 1 {
		data, err = publicManifest(&table.Table{Root: root}, date, version)
	}
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	if strings.HasSuffix(name, ".html") {
		writeHTML(w, data)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

func readRegular(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	return os.ReadFile(path)
}

// fail logs the cause and answers 500 without it: the error may name
// folders the page does not show.
func (h *handler) fail(w http.ResponseWriter, err error) {
	if h.log != nil {
		h.log.Error("trends page failed", "err", err)
	}
	http.Error(w, "the page could not be built: see the daemon's log", http.StatusInternalServerError)
}

func writeHTML(w http.ResponseWriter, page []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

func isDate(s string) bool {
	d, err := spec.ParseDate(s)
	return err == nil && d.Format(spec.DateLayout) == s
}
