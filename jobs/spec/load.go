package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes and checks the job file at path. Every error wraps
// ErrInvalid and names the file, and the key and line where it can.
func Load(path string) (*Job, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	job, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	job.File = abs
	return job, nil
}

// Parse decodes a job file's bytes; dir is the folder relative paths
// are resolved against.
func Parse(data []byte, dir string) (*Job, error) {
	job := defaultJob()
	// Numbers and strings are checked on the YAML tree first: decoding
	// would truncate 0.9 into an int and drop an empty value silently.
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil {
		if err := checkFields(&root); err != nil {
			return nil, err
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&job); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: line %d: a job file holds one YAML document", ErrInvalid, extra.Line)
	}

	sum := sha256.Sum256(data)
	job.Hash = hex.EncodeToString(sum[:])
	job.Dir = dir
	if err := job.expandEnv(&root); err != nil {
		return nil, err
	}
	if err := job.check(&root); err != nil {
		return nil, err
	}
	job.resolvePaths()
	job.root = &root
	return &job, nil
}

var yamlFieldNotFound = regexp.MustCompile(`field (\S+) not found in type spec\.(\w+)`)

// yamlSections names the job-file section each Go type decodes.
var yamlSections = map[string]string{
	"Job": "", "Source": "source", "Model": "model", "OutputRef": "model.score or model.label",
	"Output": "output", "Scoring": "scoring", "Validation": "validation",
	"ColumnSchema": "validation.columns", "Rule": "validation.rules", "Impute": "validation.rules.impute",
	"SQLSource": "source.sql", "SQLOutput": "output.sql",
	"TableRules": "validation.table", "Freshness": "validation.table.freshness", "Drift": "validation.drift",
	"Threshold":  "validation.drift",
	"Challenger": "challenger", "Fallback": "fallback", "Review": "review",
	"Outcomes": "outcomes", "LabelSource": "outcomes.labels", "LabelSQL": "outcomes.labels.sql", "OutcomesGate": "outcomes.gate",
	"Explain": "explain", "ExplainWhere": "explain.where",
	"Arms": "arms", "Arm": "arms.models",
}

// yamlMessage turns yaml.v3's type-centric wording into the file's terms.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	return yamlFieldNotFound.ReplaceAllStringFunc(msg, func(m string) string {
		sub := yamlFieldNotFound.FindStringSubmatch(m)
		section, ok := yamlSections[sub[2]]
		if !ok {
			section = strings.ToLower(sub[2])
		}
		if section == "" {
			return fmt.Sprintf("unknown key %q", sub[1])
		}
		return fmt.Sprintf("unknown key %q in %s", sub[1], section)
	})
}

// keyError names a key of the file and, when found, its line.
func keyError(root *yaml.Node, format string, args ...any) func(path ...string) error {
	return func(path ...string) error {
		where := displayKey(path)
		if line := lineOf(root, path...); line > 0 {
			where = fmt.Sprintf("line %d: %s", line, where)
		}
		return fmt.Errorf("%w: %s: %s", ErrInvalid, where, fmt.Sprintf(format, args...))
	}
}

// displayKey joins a key path; an element "[3]" (the third item of a
// list) follows its list without a dot.
func displayKey(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// lineOf finds the line of a key path in the decoded document, or the
// deepest ancestor present; 0 when nothing matches. "[3]" steps into the
// third item of a list.
func lineOf(root *yaml.Node, path ...string) int {
	n := root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, key := range path {
		var item int
		if _, err := fmt.Sscanf(key, "[%d]", &item); err == nil && n.Kind == yaml.SequenceNode {
			if item < 1 || item > len(n.Content) {
				return line
			}
			n = n.Content[item-1]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv fills ${VAR} in the path fields only; other fields are literal
// so that a value can never smuggle a secret into logs or manifests.
func (j *Job) expandEnv(root *yaml.Node) error {
	fields := []struct {
		value *string
		path  []string
	}{
		{&j.Source.Parquet, []string{"source", "parquet"}},
		{&j.Model.Path, []string{"model", "path"}},
		{&j.Model.Registry, []string{"model", "registry"}},
		{&j.Output.Table, []string{"output", "table"}},
		{&j.Validation.Baseline, []string{"validation", "baseline"}},
	}
	if a := j.Arms; a != nil {
		for i := range a.Models {
			at := "[" + strconv.Itoa(i+1) + "]"
			fields = append(fields,
				struct {
					value *string
					path  []string
				}{&a.Models[i].Path, []string{"arms", "models", at, "path"}},
				struct {
					value *string
					path  []string
				}{&a.Models[i].Registry, []string{"arms", "models", at, "registry"}})
		}
	}
	if o := j.Outcomes; o != nil {
		fields = append(fields, struct {
			value *string
			path  []string
		}{&o.Labels.Parquet, []string{"outcomes", "labels", "parquet"}})
	}
	for _, f := range fields {
		var missing string
		*f.value = envRef.ReplaceAllStringFunc(*f.value, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v, ok := os.LookupEnv(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return keyError(root, "environment variable %s is not set", missing)(f.path...)
		}
	}
	return nil
}

// isURL matches s3://bucket/... and the like: object storage, not a path
// relative to the job file.
var isURL = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://`)

func (j *Job) resolvePaths() {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || isURL.MatchString(p) {
			return p
		}
		return filepath.Join(j.Dir, p)
	}
	j.Source.Parquet = abs(j.Source.Parquet)
	j.Model.Path = abs(j.Model.Path)
	j.Model.Registry = abs(j.Model.Registry)
	if c := j.Challenger; c != nil {
		c.Path, c.Registry = abs(c.Path), abs(c.Registry)
	}
	if f := j.Fallback; f != nil && f.Model != nil {
		f.Model.Path, f.Model.Registry = abs(f.Model.Path), abs(f.Model.Registry)
	}
	if a := j.Arms; a != nil {
		for i := range a.Models {
			a.Models[i].Path, a.Models[i].Registry = abs(a.Models[i].Path), abs(a.Models[i].Registry)
		}
	}
	j.Output.Table = abs(j.Output.Table)
	j.Validation.Baseline = abs(j.Validation.Baseline)
	if j.Source.SQL != nil {
		j.Source.SQL.DSNFile = abs(j.Source.SQL.DSNFile)
	}
	if j.Output.SQL != nil {
		j.Output.SQL.DSNFile = abs(j.Output.SQL.DSNFile)
	}
	if o := j.Outcomes; o != nil {
		o.Labels.Parquet = abs(o.Labels.Parquet)
		if o.Labels.SQL != nil {
			o.Labels.SQL.DSNFile = abs(o.Labels.SQL.DSNFile)
		}
	}
	if x := j.Explain; x != nil {
		x.Covers, x.Reasons = abs(x.Covers), abs(x.Reasons)
	}
}

// KeyError words an error about a key of the job file that is found after
// loading (against the model, say): the file, the key's line and the key.
func (j *Job) KeyError(key string, format string, args ...any) error {
	where := key
	if line := lineOf(j.root, strings.Split(key, ".")...); line > 0 {
		where = fmt.Sprintf("line %d: %s", line, key)
	}
	return fmt.Errorf("%w: %s: %s: %s", ErrInvalid, j.File, where, fmt.Sprintf(format, args...))
}
