package trends

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/batchscore/batchscore/io/table"
)

// publicManifest is an execution's manifest as the pages hand it out: when
// the run has a report that masks PII columns, the manifest's error and
// validation breaches (free text that may quote a value, recorded before
// any masking) are replaced by the report's, which report.Mask scrubbed;
// the rest is as recorded (a manifest never holds a DSN or a credential).
// Without such a report the manifest is returned as it is: its error is
// then the one the page shows too.
func publicManifest(t *table.Table, date, version string) ([]byte, error) {
	data, err := readRegular(t.ManifestPath(date, version))
	if err != nil {
		return nil, err
	}
	rep, err := readRegular(t.RunFile(date, version, ".report.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return data, nil
	}
	if err != nil {
		return nil, err
	}
	var r struct {
		PII   []string `json:"pii"`
		Error string   `json:"error"`
		Gate  struct {
			Breaches []string `json:"breaches"`
		} `json:"gate"`
	}
	if json.Unmarshal(rep, &r) != nil || len(r.PII) == 0 {
		return data, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the manifest of %s: %w", version, err)
	}
	if _, ok := m["error"]; ok {
		m["error"], _ = json.Marshal(r.Error)
	}
	if raw, ok := m["validation"]; ok {
		var v map[string]json.RawMessage
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("the manifest of %s: validation: %w", version, err)
		}
		if _, ok := v["breaches"]; ok {
			v["breaches"], _ = json.Marshal(r.Gate.Breaches)
		}
		m["validation"], _ = json.Marshal(v)
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// writeIfChanged writes data to path unless path holds it already; it
// returns how many files it wrote.
func writeIfChanged(path string, data []byte) (int, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return 0, nil
	}
	if err := writeFile(path, data); err != nil {
		return 0, err
	}
	return 1, nil
}
