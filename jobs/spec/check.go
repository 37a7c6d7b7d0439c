package spec

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/batchscore/batchscore/scoring"
)

var jobName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// CronParser accepts five-field expressions and descriptors such as @daily.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var (
	sqlDrivers = []string{"postgres", "sqlite", "mysql"}
	sqlTable   = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

func (s *SQLSource) check(bad func(string, ...any) func(...string) error) error {
	if err := checkDSN(bad, s.Driver, s.DSNEnv, s.DSNFile, "source", "sql"); err != nil {
		return err
	}
	if strings.TrimSpace(s.Query) == "" {
		return bad("is required")("source", "sql", "query")
	}
	if s.Decimal != "" && s.Decimal != "float64" && s.Decimal != "decimal" {
		return bad("%q is not float64 or decimal", s.Decimal)("source", "sql", "decimal")
	}
	if s.ShardKey != "" && !sqlColumn.MatchString(s.ShardKey) {
		return bad("%q is not a column name (a letter or _, then letters, digits or _)", s.ShardKey)("source", "sql", "shard_key")
	}
	return nil
}

var sqlColumn = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// checkDSN wants a known driver and exactly one place to read the DSN from.
func checkDSN(bad func(string, ...any) func(...string) error, driver, env, file string, at ...string) error {
	if !slices.Contains(sqlDrivers, driver) {
		return bad("driver %q is not one of %v", driver, sqlDrivers)(append(slices.Clone(at), "driver")...)
	}
	if (env == "") == (file == "") {
		return bad("set exactly one of dsn_env (an environment variable) and dsn_file (a file holding the DSN); the DSN itself never goes in the job file")(at...)
	}
	return nil
}

var compressions = []string{"zstd", "snappy", "gzip", "none"}

// checkLevel says what is wrong with a compression level, if anything.
func checkLevel(compression string, level int) string {
	switch {
	case level == 0:
		return ""
	case compression == "zstd" && (level < 1 || level > 22):
		return fmt.Sprintf("%d is not a zstd level (1 to 22)", level)
	case compression == "gzip" && (level < 1 || level > 9):
		return fmt.Sprintf("%d is not a gzip level (1 to 9)", level)
	case compression != "zstd" && compression != "gzip":
		return fmt.Sprintf("%s has no levels (zstd and gzip do)", compression)
	}
	return ""
}

// fireHorizon is how far ahead a schedule must fire at least once: eight
// years hold two leap days, so 29 February passes and 30 February does not.
const fireHorizon = 8 * 366 * 24 * time.Hour

// checkSchedule says what is wrong with a schedule, if anything: not a
// cron expression, a TZ= prefix, an @every under a second, or an
// expression no date matches.
func checkSchedule(expr string) string {
	if expr == "" {
		return ""
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return "set the time zone with the timezone key, not in the expression"
	}
	sched, err := CronParser.Parse("TZ=UTC " + expr)
	if err != nil {
		return fmt.Sprintf("%q is not a cron expression: %v", expr, err)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		// robfig/cron turns anything under a second, -1h too, into 1s.
		if d, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(expr, "@every"))); d < time.Second {
			return fmt.Sprintf("%q: @every needs a duration of at least 1s, e.g. @every 6h (it would run every %v)", expr, every.Delay)
		}
		return ""
	}
	// robfig/cron gives up five years ahead, so step through the horizon.
	start := time.Now().UTC()
	for t := start; t.Before(start.Add(fireHorizon)); t = t.Add(4 * 365 * 24 * time.Hour) {
		if !sched.Next(t).IsZero() {
			return ""
		}
	}
	return fmt.Sprintf("%q never fires: no date matches it (e.g. 30 February)", expr)
}

var optimizations = []string{"all", "extended", "basic", "disabled"}

var engines = []string{"auto", "native", "onnxruntime"}

// check validates the decoded job and names the first offending key.
func (j *Job) check(root *yaml.Node) error {
	bad := func(format string, args ...any) func(path ...string) error {
		return keyError(root, format, args...)
	}
	switch {
	case j.Name == "":
		return bad("is required")("name")
	case strings.HasPrefix(j.Name, "."):
		return bad("%q starts with a dot: the name becomes a folder and file name, so dot-only and leading-dot names (., .., .hidden) are refused; start with a letter, digit or '_'", j.Name)("name")
	case !jobName.MatchString(j.Name):
		return bad("%q may hold only letters, digits, '_', '.' and '-', and must start with a letter, digit or '_' (the name becomes a folder and file name)", j.Name)("name")
	}
	if err := checkSchedule(j.Schedule); err != "" {
		return bad("%s", err)("schedule")
	}
	if j.Overlap != "skip" && j.Overlap != "queue" {
		return bad("%q is not skip or queue", j.Overlap)("overlap")
	}
	if strings.EqualFold(j.Timezone, "Local") {
		return bad("%q is refused on purpose: the logical date must not depend on the host's clock settings; name the zone, e.g. UTC or Europe/Berlin", j.Timezone)("timezone")
	}
	loc, err := time.LoadLocation(j.Timezone)
	if err != nil {
		return bad("unknown time zone %q: give an IANA name such as UTC or Europe/Berlin", j.Timezone)("timezone")
	}
	j.Location = loc

	switch {
	case j.Source.Parquet == "" && j.Source.SQL == nil:
		return bad("set parquet (a file glob such as data/date={{ .Date }}/*.parquet) or sql")("source")
	case j.Source.Parquet != "" && j.Source.SQL != nil:
		return bad("set parquet or sql, not both")("source")
	case j.Source.SQL != nil:
		if err := j.Source.SQL.check(bad); err != nil {
			return err
		}
	}
	if _, err := j.SourcePattern(time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		return bad("%v", err)("source", "parquet")
	}

	if err := j.checkArms(bad, lineOf(root, "model") > 0); err != nil {
		return err
	}
	if j.Arms == nil {
		if err := checkModel(bad, j.Model, "model"); err != nil {
			return err
		}
	}
	if err := j.checkSafety(bad); err != nil {
		return err
	}
	if err := j.checkOutcomes(bad); err != nil {
		return err
	}
	if err := j.checkExplain(bad); err != nil {
		return err
	}

	if j.Output.Table == "" {
		return bad("is required")("output", "table")
	}
	if o := j.Output.SQL; o != nil {
		if err := checkDSN(bad, o.Driver, o.DSNEnv, o.DSNFile, "output", "sql"); err != nil {
			return err
		}
		if !sqlTable.MatchString(o.Table) {
			return bad("table %q must be a plain identifier, optionally schema-qualified", o.Table)("output", "sql", "table")
		}
	}
	if len(j.Output.Keys) == 0 {
		return bad("name at least one key column to copy into every result row")("output", "keys")
	}
	seen := map[string]bool{}
	for _, k := range j.Output.Keys {
		if k == "" {
			return bad("a key column name is empty")("output", "keys")
		}
		if slices.Contains(ReservedColumns, k) {
			return bad("%q is written by batchscore itself; reserved names: %v", k, ReservedColumns)("output", "keys")
		}
		if seen[k] {
			return bad("%q is listed twice", k)("output", "keys")
		}
		seen[k] = true
	}
	if !slices.Contains(compressions, j.Output.Compression) {
		return bad("%q is not one of %v", j.Output.Compression, compressions)("output", "compression")
	}
	if err := checkLevel(j.Output.Compression, j.Output.CompressionLevel); err != "" {
		return bad("%s", err)("output", "compression_level")
	}

	if err := j.Validation.check(bad); err != nil {
		return err
	}
	switch {
	case !slices.Contains(optimizations, j.Scoring.Optimization):
		return bad("%q is not one of %v", j.Scoring.Optimization, optimizations)("scoring", "graph_optimization")
	case !slices.Contains(engines, j.Scoring.Engine):
		return bad("%q is not one of %v", j.Scoring.Engine, engines)("scoring", "engine")
	}
	return nil
}

// checkModel checks a model section found at key at (model, challenger,
// fallback.model).
func checkModel(bad func(string, ...any) func(...string) error, m Model, at ...string) error {
	key := func(k ...string) []string { return append(append([]string(nil), at...), k...) }
	switch {
	case m.Path != "" && m.Registry != "":
		return bad("set path or registry, not both")(at...)
	case m.Path == "" && m.Registry == "":
		return bad("set path (an .onnx file) or registry + name + alias")(key("path")...)
	case m.Registry != "" && m.Name == "":
		return bad("name the model in the registry")(key("name")...)
	case m.Registry != "" && (m.Alias == "") == (m.Version == ""):
		return bad("set exactly one of alias (e.g. prod) and version")(key("alias")...)
	case m.Registry == "" && (m.Name != "" || m.Alias != ""):
		return bad("name and alias need registry")(key("registry")...)
	}
	if len(m.Inputs) == 0 {
		return bad("map each model input to its table columns, e.g. features: [tenure_months, monthly_charges]")(key("inputs")...)
	}
	for _, name := range sortedKeys(m.Inputs) {
		cols := m.Inputs[name]
		if len(cols) == 0 {
			return bad("input %q has no columns", name)(key("inputs", name)...)
		}
		seen := map[string]bool{}
		for _, c := range cols {
			if c == "" {
				return bad("input %q has an empty column name", name)(key("inputs", name)...)
			}
			if seen[c] {
				return bad("input %q lists column %q twice", name, c)(key("inputs", name)...)
			}
			seen[c] = true
		}
	}
	if m.Score.Output == "" {
		return bad("name the model output that holds the score, e.g. {output: probabilities, class: 1}")(key("score")...)
	}
	if m.Label != nil && m.Label.Output == "" {
		return bad("output is required")(key("label")...)
	}
	return nil
}

// InputNames returns the model inputs the job binds, sorted.
func (m Model) InputNames() []string { return sortedKeys(m.Inputs) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ErrorAt is used by callers outside this package to word errors about a key.
func ErrorAt(key string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

// Wiring is the model section as the scoring package takes it.
func (m Model) Wiring() scoring.Wiring {
	w := scoring.Wiring{Inputs: m.Inputs, Score: scoring.OutputRef(m.Score)}
	if m.Label != nil {
		l := scoring.OutputRef(*m.Label)
		w.Label = &l
	}
	return w
}
