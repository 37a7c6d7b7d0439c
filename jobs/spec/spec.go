// Package spec loads and checks job files: strict YAML, defaults in one
// place, paths resolved against the job file's folder.
package spec

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrInvalid marks a job file that cannot run as written. Retrying does not
// help: the file has to be fixed.
var ErrInvalid = errors.New("invalid job file")

// Job is one job file. Field docs are the README's job-file reference.
type Job struct {
	Name     string `yaml:"name" kind:"text"`
	Schedule string `yaml:"schedule" kind:"text"`
	Timezone string `yaml:"timezone" kind:"enum"`
	// Overlap says what `batchscore serve` does when a fire comes while the
	// previous run of the job still runs: skip it or queue it.
	Overlap string `yaml:"overlap" kind:"enum"`
	// Catchup is how many missed fires `serve` runs when it starts.
	Catchup    *int       `yaml:"catchup" range:"0,"`
	Source     Source     `yaml:"source"`
	Model      Model      `yaml:"model"`
	Output     Output     `yaml:"output"`
	Scoring    Scoring    `yaml:"scoring"`
	Validation Validation `yaml:"validation"`
	// Challenger, Fallback and Review make model changes safe: see safety.go.
	Challenger *Challenger `yaml:"challenger"`
	Fallback   *Fallback   `yaml:"fallback"`
	Review     *Review     `yaml:"review"`
	// Arms is an A/B test of two or more models (arms.go); it replaces model:.
	Arms *Arms `yaml:"arms"`
	// Outcomes measures published scores against labels (outcomes.go).
	Outcomes *Outcomes `yaml:"outcomes"`
	// Explain publishes per-row explanations with the scores: explain.go.
	Explain *Explain `yaml:"explain"`

	// Set by Load, never by the file.
	File     string         `yaml:"-"` // absolute path of the job file
	Dir      string         `yaml:"-"` // folder that relative paths are resolved against
	Hash     string         `yaml:"-"` // sha256 of the file's bytes
	Location *time.Location `yaml:"-"`
	root     *yaml.Node     // the file's YAML tree, for KeyError's lines
}

// Source says where a date's snapshot is: Parquet files or a SQL query.
type Source struct {
	// Parquet is a file glob; {{ .Date }} and friends are filled per run.
	Parquet string     `yaml:"parquet" kind:"path"`
	SQL     *SQLSource `yaml:"sql"`
}

// SQLSource is a query whose :date (and :from, :to) parameters the driver
// binds. The DSN comes from the environment or a file, never the job file.
type SQLSource struct {
	Driver  string   `yaml:"driver" kind:"enum"` // postgres, sqlite or mysql
	DSNEnv  string   `yaml:"dsn_env" kind:"text"`
	DSNFile string   `yaml:"dsn_file" kind:"path"`
	Query   string   `yaml:"query" kind:"text"`
	Timeout Duration `yaml:"timeout" kind:"duration"` // statement timeout; 0: none
	Decimal string   `yaml:"decimal" kind:"enum"`     // numeric columns as float64 (default) or decimal
	// ShardKey is the column a sharded run (--shard K/N) hashes to split
	// the query's rows.
	ShardKey string `yaml:"shard_key" kind:"column"`
}

// SQLOutput is a versioned SQL table written alongside the Parquet one.
type SQLOutput struct {
	Driver  string `yaml:"driver" kind:"enum"`
	DSNEnv  string `yaml:"dsn_env" kind:"text"`
	DSNFile string `yaml:"dsn_file" kind:"path"`
	Table   string `yaml:"table" kind:"text"`
	Keep    int    `yaml:"keep" range:"0,"` // versions kept per score_date; 0: all
}

// Duration reads "90s", "10m" and the like.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 90s or 10m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Model names the ONNX file and how table columns feed it. The file is
// either a path or a registry entry: registry + name + alias (or version).
type Model struct {
	Path     string `yaml:"path" kind:"path"`
	Registry string `yaml:"registry" kind:"path"`
	Name     string `yaml:"name" kind:"text"`
	Alias    string `yaml:"alias" kind:"text"`
	// Version labels the rows (model_version); with a registry it pins
	// the registry version instead of an alias.
	Version string `yaml:"version" kind:"text"`
	// Inputs maps each model input to the table columns that fill it, in order.
	Inputs map[string][]string `yaml:"inputs" keys:"text" kind:"column"`
	Score  OutputRef           `yaml:"score"`
	Label  *OutputRef          `yaml:"label"`
}

// OutputRef picks a model output and, for a per-class output, the class.
type OutputRef struct {
	Output string `yaml:"output" kind:"text"`
	// Class is the column of an [N,C] output, or the key of a ZipMap output.
	// Nil means a single-valued (regression or label) output.
	Class *int64 `yaml:"class" range:"-9223372036854775808,9223372036854775807"`
}

// Output describes the result table.
type Output struct {
	Table string     `yaml:"table" kind:"path"`
	SQL   *SQLOutput `yaml:"sql"`
	Keys  []string   `yaml:"keys" kind:"column"`
	// FileRows caps the rows of one result file; larger versions get several.
	FileRows    int64  `yaml:"file_rows" range:"1,"`
	Compression string `yaml:"compression" kind:"enum"`
	// CompressionLevel is zstd's (1-22) or gzip's (1-9); 0: the default.
	CompressionLevel int `yaml:"compression_level" range:"0,22"`
	// KeepRuns is how many executions of each date keep their whole
	// record in runs/ (manifest, reports, profile, quarantined rows);
	// 0: all. See jobs' retention.
	KeepRuns int `yaml:"keep_runs" range:"0,"`
}

// Scoring tunes the worker pool and ONNX Runtime.
type Scoring struct {
	Workers        int    `yaml:"workers" range:"0,cores"`
	ChunkRows      int    `yaml:"chunk_rows" range:"1,16777216"`
	IntraOpThreads int    `yaml:"intra_op_threads" range:"0,cores"`
	Optimization   string `yaml:"graph_optimization" kind:"enum"`
	// Engine is auto, native or onnxruntime (scoring/onnx/native.go).
	Engine string `yaml:"engine" kind:"enum"`
}

// Defaults, in one place.
const (
	DefaultTimezone       = "UTC"
	DefaultChunkRows      = 32768 // BENCHMARKS.md, "chunk_rows"
	DefaultFileRows       = 4_000_000
	DefaultCompression    = "zstd"
	DefaultIntraOpThreads = 1
	DefaultOptimization   = "all"
	DefaultEngine         = "auto"
)

// defaultJob is what a job file starts from; the YAML is decoded over it,
// so a key the file sets, even to zero, wins over its default.
func defaultJob() Job {
	return Job{
		Timezone: DefaultTimezone,
		Overlap:  "skip",
		Output:   Output{FileRows: DefaultFileRows, Compression: DefaultCompression},
		Scoring: Scoring{
			ChunkRows:      DefaultChunkRows,
			IntraOpThreads: DefaultIntraOpThreads,
			Optimization:   DefaultOptimization,
			Engine:         DefaultEngine,
		},
		Validation: defaultValidation(),
	}
}

// ReservedColumns are written by batchscore into every result row.
var ReservedColumns = []string{"score", "label", "flags", "score_source", "arm", "score_date", "run_id", "model_version"}
