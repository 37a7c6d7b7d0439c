package outcomes

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/batchscore/batchscore/io/table"
)

// FilePrefix starts the name of every outcomes file in runs/<date>/:
// outcomes-<UTC yyyymmddThhmmssZ>.json and .html. Table's manifest
// readers take no name without a dot before .json for a manifest, and
// retention removes only names that start with a version.
const FilePrefix = "outcomes-"

// stampLayout is the evaluation time in the file name.
const stampLayout = "20060102T150405Z"

// Files lists the outcomes files (.json) of a date, oldest first.
func Files(t *table.Table, date string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(t.Root, "runs", date))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, FilePrefix) && strings.HasSuffix(n, ".json") && e.Type().IsRegular() {
			out = append(out, filepath.Join(t.Root, "runs", date, n))
		}
	}
	return out, nil
}

// Read decodes an outcomes file.
func Read(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Newest is the newest evaluation of a date (by evaluated_at), nil when
// the date has none.
func Newest(t *table.Table, date string) (*Report, error) {
	paths, err := Files(t, date)
	if err != nil {
		return nil, err
	}
	var best *Report
	for _, p := range paths {
		r, err := Read(p)
		if err != nil {
			continue
		}
		if best == nil || !r.EvaluatedAt.Before(best.EvaluatedAt) {
			best = r
		}
	}
	return best, nil
}

// Evaluated says whether a date has an outcomes file for its version.
func Evaluated(t *table.Table, date, version string) (bool, error) {
	paths, err := Files(t, date)
	if err != nil {
		return false, err
	}
	for _, p := range paths {
		if r, err := Read(p); err == nil && r.Version == version {
			return true, nil
		}
	}
	return false, nil
}

// gate applies outcomes.gate to rep and records its verdict; the error
// (ErrData) says why it failed.
func (e *evaluation) gate(rep *Report) error {
	g := e.job.Outcomes.Gate
	if g == nil {
		return nil
	}
	info := &GateInfo{AUCMin: g.AUCMin, AUCDrop: g.AUCDrop, ArmMargin: e.job.Outcomes.ArmMargin, Passed: true}
	rep.Gate = info
	auc := rep.Champion.AUC
	if g.AUCMin != nil {
		switch {
		case auc == nil:
			info.Reasons = append(info.Reasons, "AUC is undefined (one class only)")
		case *auc < *g.AUCMin:
			info.Reasons = append(info.Reasons, fmt.Sprintf("AUC %.4f is below auc_min %g", *auc, *g.AUCMin))
		}
	}
	if g.AUCDrop != nil {
		if first := e.firstEvaluated(); first != nil && first.Champion != nil && first.Champion.AUC != nil {
			info.FirstDate, info.FirstAUC = first.Date, first.Champion.AUC
			if auc != nil && *first.Champion.AUC-*auc > *g.AUCDrop {
				info.Reasons = append(info.Reasons, fmt.Sprintf("AUC %.4f is %.4f below %.4f of the first evaluated date %s (auc_drop %g)",
					*auc, *first.Champion.AUC-*auc, *first.Champion.AUC, first.Date, *g.AUCDrop))
			}
		}
	}
	info.Reasons = append(info.Reasons, armGate(rep.Arms)...)
	if len(info.Reasons) == 0 {
		return nil
	}
	info.Passed = false
	return fmt.Errorf("%w: gate: %s", ErrData, strings.Join(info.Reasons, "; "))
}

// firstEvaluated is the newest evaluation of the earliest date evaluated
// before this one.
func (e *evaluation) firstEvaluated() *Report {
	dates, err := e.table.RunDates()
	if err != nil {
		return nil
	}
	for _, d := range dates {
		if d >= e.req.Date {
			return nil
		}
		if r, err := Newest(e.table, d); err == nil && r != nil {
			return r
		}
	}
	return nil
}

// write stores the report as JSON and HTML in runs/<date>/.
func (e *evaluation) write(rep *Report) error {
	name := FilePrefix + rep.EvaluatedAt.UTC().Format(stampLayout)
	rep.Files = []string{
		filepath.ToSlash(filepath.Join("runs", rep.Date, name+".json")),
		filepath.ToSlash(filepath.Join("runs", rep.Date, name+".html")),
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	page, err := HTML(rep)
	if err != nil {
		return err
	}
	// The page first: a JSON file (what serve and trends look for) never
	// names a page that is missing.
	if _, err := e.table.WriteRunFile(rep.Date, name, ".html", page); err != nil {
		return fmt.Errorf("writing the outcomes page: %w", err)
	}
	if _, err := e.table.WriteRunFile(rep.Date, name, ".json", append(data, '\n')); err != nil {
		return fmt.Errorf("writing the outcomes file: %w", err)
	}
	return nil
}
