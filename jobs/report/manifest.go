// Package report holds what a run leaves behind for people and tools: the
// run manifest (and, later, the validation report).
package report

import (
	"encoding/json"
	"time"
)

// Statuses of an execution.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	// StatusPublishing is written just before the version is published and
	// replaced when the execution ends: left in place, it says the
	// execution was killed while publishing (the files it lists are whole).
	StatusPublishing = "publishing"
	// StatusUnknown is never written: the run history shows it for a
	// publishing manifest left by an execution that has ended, whose
	// version is current (see jobs.History).
	StatusUnknown = "unknown"
	// StatusAlreadyCurrent: the date's current version came from the same
	// snapshot, model and job file; nothing was run or written.
	StatusAlreadyCurrent = "already_current"
	// StatusStaged: a shard's rows are checked, scored and staged, and
	// wait for `batchscore commit`; nothing was published.
	StatusStaged = "staged"
)

// Manifest is the record of one execution, written last, whatever its end.
type Manifest struct {
	Job         string    `json:"job"`
	JobFile     string    `json:"job_file"`
	LogicalDate string    `json:"logical_date"`
	RunID       string    `json:"run_id,omitempty"`
	Version     string    `json:"version"`
	Trigger     string    `json:"trigger"`
	Status      string    `json:"status"`
	ExitCode    int       `json:"exit_code"`
	Error       string    `json:"error,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	Stages      []Stage   `json:"stages"`
	Busy        []Busy    `json:"busy,omitempty"`
	Binary      Binary    `json:"binary"`
	ConfigHash  string    `json:"config_hash"`
	Model       Model     `json:"model"`
	Source      Source    `json:"source"`
	Counts      Counts    `json:"counts"`
	// NonFiniteInputs counts, per column, the model's inputs that were
	// NaN or infinite as the model took them (a double beyond float32's
	// range in a float input becomes ±Inf): scored, not refused.
	NonFiniteInputs map[string]NonFinite `json:"non_finite_inputs,omitempty"`
	Output          Output               `json:"output"`
	Validation      Summary              `json:"validation"`
	// Set when the job file has the section.
	Challenger *Challenger `json:"challenger,omitempty"`
	Fallback   *Fallback   `json:"fallback,omitempty"`
	Review     *Review     `json:"review,omitempty"`
	// Arms is the A/B test, when the job has arms:.
	Arms *Arms `json:"arms,omitempty"`
	// Explain is set when the job explains its rows (explain.go).
	Explain *Explanation `json:"explain,omitempty"`
	// Shard is set on a shard's own manifest; Shards on the commit's,
	// one entry per shard committed.
	Shard  *ShardRef  `json:"shard,omitempty"`
	Shards []ShardRef `json:"shards,omitempty"`
}

// ShardRef is one shard of a sharded run.
type ShardRef struct {
	Index   int    `json:"index"`
	Count   int    `json:"count"`
	Version string `json:"version"` // the shard execution's, its manifest's name in runs/
	Rows    int64  `json:"rows"`    // the snapshot rows it read
	Path    string `json:"path,omitempty"`
	Host    string `json:"host,omitempty"`
	// Parts are the (file, row groups) it read; Query the query it ran,
	// for a SQL source.
	Parts []ShardPart `json:"parts,omitempty"`
	Query string      `json:"query,omitempty"`
	// Fingerprint is a SQL shard's checksum of its rows.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Stage is how long one part of the run took.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Busy is how much of the pipeline's wall time a stage spent working
// (reading excludes waiting for the workers; scoring is summed over its
// workers, and Share divides by them): the stage nearest 1.0 bounds the run.
type Busy struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
	Share   float64 `json:"share"`
	Workers int     `json:"workers,omitempty"`
}

// Binary names the program that ran.
type Binary struct {
	Version     string `json:"version"`
	GoVersion   string `json:"go_version"`
	ORTVersion  string `json:"onnxruntime_version,omitempty"`
	ORTLibrary  string `json:"onnxruntime_library,omitempty"`
	Workers     int    `json:"workers"`
	ChunkRows   int    `json:"chunk_rows"`
	IntraThread int    `json:"intra_op_threads"`
}

// Model identifies the model file and what it said about itself.
type Model struct {
	Path      string         `json:"path"`
	SHA256    string         `json:"sha256,omitempty"`
	Version   string         `json:"version,omitempty"`
	Signature *Signature     `json:"signature,omitempty"`
	Metadata  *ModelMetadata `json:"metadata,omitempty"`
	// Rewrites lists how the graph scored differs from the file, e.g. a
	// ZipMap output read as the probability tensor that fed it.
	Rewrites []string `json:"rewrites,omitempty"`
	// Engine says what scored the model: the native tree engine, or ONNX
	// Runtime and why the native engine did not.
	Engine string `json:"engine,omitempty"`
	// Registry says which registry entry the file came from.
	Registry *RegistryEntry `json:"registry,omitempty"`
	// Error says why the model could not be used (a fallback scored).
	Error string `json:"error,omitempty"`
}

// RegistryEntry is a model resolved through a registry.
type RegistryEntry struct {
	Dir     string `json:"dir"`
	Name    string `json:"name"`
	Alias   string `json:"alias,omitempty"`
	Version string `json:"version"`
	// Policy says how the version was chosen: "pinned", "current" (the
	// alias today) or "as-of-date" (the alias on the logical date, from
	// the registry log).
	Policy string    `json:"policy"`
	AsOf   time.Time `json:"as_of,omitzero"`
}

// Source fingerprints the snapshot.
type Source struct {
	Kind        string            `json:"kind"` // parquet or sql
	Pattern     string            `json:"pattern,omitempty"`
	Driver      string            `json:"driver,omitempty"`
	Query       string            `json:"query,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	Files       []SourceFile      `json:"files,omitempty"`
	Rows        int64             `json:"rows"`
	Fingerprint string            `json:"fingerprint,omitempty"`
}

// Counts balance: read = valid + quarantined; valid = scored + fallback.
type Counts struct {
	Read        int64 `json:"read"`
	Valid       int64 `json:"valid"`
	Quarantined int64 `json:"quarantined"`
	Scored      int64 `json:"scored"`
	Fallback    int64 `json:"fallback"`
	Written     int64 `json:"written"`
	// Imputed and Clipped rows are valid rows a rule changed.
	Imputed int64 `json:"imputed"`
	Clipped int64 `json:"clipped"`
}

// Output says what was published.
type Output struct {
	Table       string `json:"table"`
	Version     string `json:"version"`
	Path        string `json:"path,omitempty"`
	CurrentLink string `json:"current_link,omitempty"`
	Published   bool   `json:"published"`
	// URL and CurrentURL are the version folder and the date's pointer
	// object when the table is on object storage.
	URL        string `json:"url,omitempty"`
	CurrentURL string `json:"current_url,omitempty"`
	Files      []File `json:"files,omitempty"`
	// QuarantineFiles hold the rejected rows: in the version's _quarantine/
	// when published, kept in QuarantinePath for on-call when the gate
	// stopped the run.
	QuarantineFiles []File `json:"quarantine_files,omitempty"`
	QuarantinePath  string `json:"quarantine_path,omitempty"`
	// ReusedChunks were scored by an earlier, killed execution of the same
	// run id and reused after their checksums matched.
	ReusedChunks int64 `json:"reused_chunks"`
	// SQL is the SQL table written alongside, when the job has one.
	SQL *SQLOutput `json:"sql,omitempty"`
}

// SQLOutput is a version loaded into a SQL table; never the DSN.
type SQLOutput struct {
	Driver    string `json:"driver"`
	Table     string `json:"table"`
	Rows      int64  `json:"rows"`
	Published bool   `json:"published"`
}

// Summary of the data checks; the report has the details.
type Summary struct {
	Rules              int      `json:"rules"`
	Passed             bool     `json:"passed"`
	MaxInvalidFraction float64  `json:"max_invalid_fraction"`
	InvalidFraction    float64  `json:"invalid_fraction"`
	Breaches           []string `json:"breaches,omitempty"`
	Warnings           []string `json:"warnings,omitempty"`
	Baseline           string   `json:"baseline,omitempty"`
	PreviousVersion    string   `json:"previous_version,omitempty"`
	Report             string   `json:"report,omitempty"`
	ReportHTML         string   `json:"report_html,omitempty"`

	// NullKeys counts, when validation.table.unique is set, the rows whose
	// key has a null: not duplicates of each other (SQL's UNIQUE).
	NullKeys *int64 `json:"null_keys,omitempty"`
}

// JSON renders the manifest, indented for people.
func (m *Manifest) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Time records a stage's duration since start.
func (m *Manifest) Time(name string, start time.Time) {
	m.Stages = append(m.Stages, Stage{Name: name, Seconds: time.Since(start).Seconds()})
}
