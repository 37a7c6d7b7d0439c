package main

// Jobs that name their model by registry alias.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/jobs/report"
)

// withMetadata returns an ONNX model's bytes with one more metadata_props
// entry (ModelProto field 14): the same graph, another file and sha256.
func withMetadata(t *testing.T, model []byte, key, value string) []byte {
	t.Helper()
	var entry []byte
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, key)
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendString(entry, value)
	out := append([]byte(nil), model...)
	out = protowire.AppendTag(out, 14, protowire.BytesType)
	return protowire.AppendBytes(out, entry)
}

// registryJob is churn_nightly with its model named by registry alias.
func registryJob(t *testing.T, table, reg string) string {
	return writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(text string) string {
		text = removeLine(t, text, "  version: churn_gbm-2026.11")
		return regexp.MustCompile(`(?m)^  path: .*$`).ReplaceAllString(text,
			"  registry: "+strconv.Quote(reg)+"\n  name: churn\n  alias: prod")
	}})
}

// backdateLog moves the registry log's promotions to the given times, in
// order, as if they had happened then.
func backdateLog(t *testing.T, reg string, times ...string) {
	t.Helper()
	path := filepath.Join(reg, "registry.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	i := 0
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var c map[string]any
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatal(err)
		}
		if c["action"] == "promote" {
			c["time"] = times[i]
			i++
		} else {
			c["time"] = "2026-11-01T00:00:00Z"
		}
		b, _ := json.Marshal(c)
		out = append(out, b)
	}
	if err := os.WriteFile(path, append(bytes.Join(out, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryModelInAJob(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "registry")
	gbm := modelPath(t, "churn_gbm.onnx")
	data, err := os.ReadFile(gbm)
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(t.TempDir(), "churn_gbm_v2.onnx")
	if err := os.WriteFile(v2, withMetadata(t, data, "retrained", "2026-11-19"), 0o644); err != nil {
		t.Fatal(err)
	}
	runModels(t, reg, 0, "add", "churn", gbm, "--version", "v1")
	runModels(t, reg, 0, "add", "churn", v2, "--version", "v2")
	runModels(t, reg, 0, "promote", "churn", "v1", "--alias", "prod")
	runModels(t, reg, 0, "promote", "churn", "v2", "--alias", "prod")
	// v1 went to prod during 2026-11-18, v2 during 2026-11-19.
	backdateLog(t, reg, "2026-11-18T09:00:00Z", "2026-11-19T09:00:00Z")

	versions := func(table, policy string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, d := range []string{"2026-11-18", date19, date20} {
			m := onlyManifest(t, table, d)
			e := m.Model.Registry
			if m.Status != report.StatusSucceeded || e == nil || e.Policy != policy || m.Model.Version != "churn:"+e.Version {
				t.Fatalf("%s: status %s, model %+v, registry %+v", d, m.Status, m.Model, e)
			}
			out[d] = e.Version
		}
		return out
	}

	// A backfill with the model that was prod on each date...
	asOf := filepath.Join(t.TempDir(), "as_of")
	if res := bs(t, "run", registryJob(t, asOf, reg), "--from", "2026-11-18", "--to", date20, "--registry-model", "as-of-date"); res.code != 0 {
		t.Fatalf("backfill as of date: %s", res)
	}
	if got := versions(asOf, "as-of-date"); got["2026-11-18"] != "v1" || got[date19] != "v2" || got[date20] != "v2" {
		t.Errorf("as-of-date backfill scored with %v, want v1, v2, v2", got)
	}
	// ...or with today's.
	today := filepath.Join(t.TempDir(), "today")
	job := registryJob(t, today, reg)
	if res := bs(t, "run", job, "--from", "2026-11-18", "--to", date20); res.code != 0 {
		t.Fatalf("backfill with today's model: %s", res)
	}
	if got := versions(today, "current"); got["2026-11-18"] != "v2" || got[date19] != "v2" || got[date20] != "v2" {
		t.Errorf("current-model backfill scored with %v, want v2 throughout", got)
	}
	m := onlyManifest(t, today, date20)
	if md, _ := json.Marshal(m.Model.Metadata); !strings.Contains(string(md), "retrained") {
		t.Errorf("the manifest does not record the model's metadata_props: %s", md)
	}
	tbl := readParquet(t, filepath.Join(m.Output.Path, "part-00000.parquet"))
	if v := column(t, tbl, "model_version").ValueStr(0); v != "churn:v2" {
		t.Errorf("rows carry model_version %q, want churn:v2", v)
	}
	tbl.Release()

	// A rollback is picked up by the next run.
	runModels(t, reg, 0, "rollback", "churn", "--alias", "prod")
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run after rollback: %s", res)
	}
	if v := currentManifest(t, today, date20).Model.Registry.Version; v != "v1" {
		t.Errorf("after rollback the run scored with %s, want v1", v)
	}

	// A file changed behind the registry's back is refused: exit 2.
	if err := os.WriteFile(filepath.Join(reg, "churn", "v1", "churn_gbm.onnx"), withMetadata(t, data, "tampered", "yes"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshotTable(t, today, date20)
	res := bs(t, "run", job, "--date", date20, "--force")
	if res.code != 2 || !strings.Contains(res.messages(), "sha256") || !strings.Contains(res.messages(), "churn_gbm.onnx") {
		t.Fatalf("tampered registry file: want exit 2 naming the file and sha256, got %s", res)
	}
	before.unchanged(t, today, date20)
}

// currentManifest is the manifest of the date's current version.
func currentManifest(t *testing.T, table, date string) *report.Manifest {
	t.Helper()
	return manifests(t, table, date)[currentVersion(t, table, date)]
}
