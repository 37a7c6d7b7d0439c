package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/scoring/onnx"
	"github.com/batchscore/batchscore/scoring/registry"
)

// showChanges is how many of a model's latest changes `models show` prints.
const showChanges = 10

type modelsFlags struct {
	registry string
	asJSON   bool
	alias    string
	note     string
}

func newModelsCommand(g *globalFlags) *cobra.Command {
	f := &modelsFlags{}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List, register, promote and roll back model versions in a registry",
		Long: `models manages a model registry: a folder holding model files, a
registry.yaml listing each model's versions and aliases (prod, staging), and
registry.log, an append-only record of every change. A job file names a
registry model by alias, and the alias decides which file is scored with.

Every subcommand needs --registry DIR or $BATCHSCORE_REGISTRY. add creates
the registry on first use. promote and rollback rewrite registry.yaml
atomically under a lock and append one line to registry.log.

Exit codes: 0 success, 1 I/O failure, 2 bad arguments, an unknown model,
version or alias, nothing to roll back to, or a malformed registry.yaml.`,
		Example: `  batchscore models add churn model.onnx --version v3 --meta auc=0.83 --registry models/
  batchscore models promote churn v3 --alias prod --note "beats v2 on October" --registry models/
  batchscore models rollback churn --alias prod --registry models/`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&f.registry, "registry", "", "registry folder (default: $BATCHSCORE_REGISTRY)")
	cmd.AddCommand(newModelsListCommand(f), newModelsShowCommand(f), newModelsAddCommand(g, f),
		newModelsPromoteCommand(f), newModelsRollbackCommand(f), newModelsLogCommand(f))
	return cmd
}

// dir is the registry folder from the flag or the environment.
func (f *modelsFlags) dir() (string, error) {
	dir := f.registry
	if dir == "" {
		dir = os.Getenv("BATCHSCORE_REGISTRY")
	}
	if dir == "" {
		return "", fmt.Errorf("%w: --registry DIR (or BATCHSCORE_REGISTRY) is required", jobs.ErrUsage)
	}
	return dir, nil
}

func (f *modelsFlags) open() (*registry.Registry, error) {
	dir, err := f.dir()
	if err != nil {
		return nil, err
	}
	r, err := registry.Open(dir)
	return r, registryError(err)
}

// registryError makes what the user can fix exit 2: an unknown model,
// version or alias, a duplicate version, a malformed registry. The rest
// (I/O) stays a failure.
func registryError(err error) error {
	if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrInvalid) || errors.Is(err, registry.ErrExists) {
		return &usageError{err}
	}
	return err
}

// usageError exits 2 without prefixing the message with "usage:".
type usageError struct{ err error }

func (e *usageError) Error() string   { return e.err.Error() }
func (e *usageError) Unwrap() []error { return []error{jobs.ErrUsage, e.err} }

func (f *modelsFlags) addJSONFlag(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print "+what+" as JSON")
}

func newModelsListCommand(f *modelsFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registry's models, their version counts and aliases",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := f.open()
			if err != nil {
				return err
			}
			type row struct {
				Name     string            `json:"name"`
				Versions int               `json:"versions"`
				Latest   string            `json:"latest,omitempty"`
				Aliases  map[string]string `json:"aliases"`
			}
			var rows []row
			for _, name := range r.Models() {
				versions, err := r.Versions(name)
				if err != nil {
					return registryError(err)
				}
				aliases, err := r.Aliases(name)
				if err != nil {
					return registryError(err)
				}
				x := row{Name: name, Versions: len(versions), Aliases: aliases}
				if len(versions) > 0 {
					x.Latest = versions[len(versions)-1].Version
				}
				rows = append(rows, x)
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tVERSIONS\tLATEST\tALIASES")
			for _, x := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", x.Name, x.Versions, x.Latest, formatPairs(x.Aliases, "="))
			}
			return tw.Flush()
		},
	}
	f.addJSONFlag(cmd, "the models")
	return cmd
}

func newModelsShowCommand(f *modelsFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a model's versions, the aliases pointing at them and its latest changes",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := f.open()
			if err != nil {
				return err
			}
			name := args[0]
			versions, err := r.Versions(name)
			if err != nil {
				return registryError(err)
			}
			aliases, err := r.Aliases(name)
			if err != nil {
				return registryError(err)
			}
			changes, err := modelChanges(r, name)
			if err != nil {
				return err
			}
			if len(changes) > showChanges {
				changes = changes[len(changes)-showChanges:]
			}
			pointing := map[string][]string{} // version -> aliases
			for a, v := range aliases {
				pointing[v] = append(pointing[v], a)
			}
			type versionRow struct {
				registry.Version
				Aliases []string `json:"aliases"`
			}
			rows := make([]versionRow, len(versions))
			for i, v := range versions {
				sort.Strings(pointing[v.Version])
				rows[i] = versionRow{v, append([]string{}, pointing[v.Version]...)}
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{
					"name": name, "registry": r.Dir(), "versions": rows, "aliases": aliases, "changes": changes,
				})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "model:    %s\nregistry: %s\n\n", name, r.Dir())
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tCREATED\tSHA256\tALIASES\tFILE\tMETADATA")
			for _, v := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\t%s\t%s\n", v.Version.Version, formatTime(v.Created), v.SHA256,
					strings.Join(v.Aliases, ","), v.File, formatPairs(v.Metadata, "="))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "\nlatest changes:\n")
			return printChanges(out, changes)
		},
	}
	f.addJSONFlag(cmd, "the model")
	return cmd
}

func newModelsAddCommand(g *globalFlags, f *modelsFlags) *cobra.Command {
	var version string
	var meta []string
	cmd := &cobra.Command{
		Use:   "add NAME FILE --version V",
		Short: "Register an ONNX model file as a new version of a model",
		Long: `add checks that FILE is an ONNX model (ONNX Runtime must load it), copies it
into the registry as NAME/V/<file name>, records its sha256 and appends an
"add" line to registry.log. It points no alias at the new version: promote
does that. A version that already exists is refused. The registry folder is
created if it does not exist.`,
		Example: `  batchscore models add churn churn_gbm.onnx --version v3 --meta trained_on=2026-10 --meta auc=0.83 --registry models/`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], args[1]
			if version == "" {
				return fmt.Errorf("%w: --version is required (see 'batchscore help models add')", jobs.ErrUsage)
			}
			metadata, err := parseMeta(meta)
			if err != nil {
				return err
			}
			dir, err := f.dir()
			if err != nil {
				return err
			}
			if err := checkONNX(g, file); err != nil {
				return err
			}
			_, statErr := os.Stat(filepath.Join(dir, "registry.yaml"))
			r, err := registry.Init(dir)
			if err != nil {
				return registryError(err)
			}
			if errors.Is(statErr, os.ErrNotExist) {
				fmt.Fprintf(cmd.ErrOrStderr(), "created registry %s\n", r.Dir())
			}
			v, err := r.Add(name, version, file, metadata, f.note)
			if err != nil {
				return registryError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: added %s (%s, sha256 %.12s)\n", name, v.Version, v.File, v.SHA256)
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "the new version's name, e.g. v3 or 2026-11-01 (required)")
	cmd.Flags().StringArrayVar(&meta, "meta", nil, "metadata key=value to record with the version (repeatable)")
	cmd.Flags().StringVar(&f.note, "note", "", "a note for registry.log")
	return cmd
}

// checkONNX loads the file with ONNX Runtime: a registry must not hand a
// job something it cannot score with.
func checkONNX(g *globalFlags, file string) error {
	lib, err := resolveORTLib(g.ortLib)
	if err != nil {
		return err
	}
	if err := onnx.Init(lib); err != nil {
		return err
	}
	model, err := onnx.Load(file)
	if err == nil {
		_, _, err = model.Inspect()
	}
	if errors.Is(err, onnx.ErrModel) || errors.Is(err, onnx.ErrNoModel) {
		return &usageError{fmt.Errorf("%s is not an ONNX model that can be registered: %w", file, err)}
	}
	return err
}

func parseMeta(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: --meta %q: want key=value", jobs.ErrUsage, p)
		}
		out[k] = v
	}
	return out, nil
}

func newModelsPromoteCommand(f *modelsFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "promote NAME VERSION --alias ALIAS",
		Short: "Point an alias (prod, staging) at a version",
		Long: `promote points the alias at VERSION, creating the alias if it is new, and
appends a "promote" line to registry.log. Promoting the version the alias
already points at changes nothing.`,
		Example: `  batchscore models promote churn v3 --alias prod --note "AUC 0.83 on October" --registry models/`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.alias == "" {
				return fmt.Errorf("%w: --alias is required (see 'batchscore help models promote')", jobs.ErrUsage)
			}
			r, err := f.open()
			if err != nil {
				return err
			}
			c, err := r.Promote(args[0], args[1], f.alias, f.note)
			if err != nil {
				return registryError(err)
			}
			printChange(cmd.OutOrStdout(), c)
			return nil
		},
	}
	addAliasFlags(cmd, f)
	return cmd
}

func newModelsRollbackCommand(f *modelsFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback NAME --alias ALIAS",
		Short: "Point an alias back at the version it pointed at before its last promote",
		Long: `rollback undoes the alias's latest promote still in effect, as registry.log
tells: after promotes of v1, v2 and v3, one rollback goes to v2 and a second
to v1. It appends a "rollback" line to registry.log.`,
		Example: `  batchscore models rollback churn --alias prod --note "v3 scores drifted" --registry models/`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.alias == "" {
				return fmt.Errorf("%w: --alias is required (see 'batchscore help models rollback')", jobs.ErrUsage)
			}
			r, err := f.open()
			if err != nil {
				return err
			}
			c, err := r.Rollback(args[0], f.alias, f.note)
			if err != nil {
				return registryError(err)
			}
			printChange(cmd.OutOrStdout(), c)
			return nil
		},
	}
	addAliasFlags(cmd, f)
	return cmd
}

func addAliasFlags(cmd *cobra.Command, f *modelsFlags) {
	cmd.Flags().StringVar(&f.alias, "alias", "", "the alias to move, e.g. prod (required)")
	cmd.Flags().StringVar(&f.note, "note", "", "a note for registry.log")
}

func printChange(w io.Writer, c registry.Change) {
	previous := c.Previous
	if previous == "" {
		previous = "(new)"
	}
	suffix := ""
	if c.Previous == c.Version {
		suffix = " (unchanged)"
	}
	fmt.Fprintf(w, "%s: %s %s -> %s%s\n", c.Name, c.Alias, previous, c.Version, suffix)
}

func newModelsLogCommand(f *modelsFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log NAME",
		Short: "Print a model's changes from registry.log, oldest first",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := f.open()
			if err != nil {
				return err
			}
			if _, err := r.Versions(args[0]); err != nil {
				return registryError(err)
			}
			changes, err := modelChanges(r, args[0])
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), changes)
			}
			return printChanges(cmd.OutOrStdout(), changes)
		},
	}
	f.addJSONFlag(cmd, "the changes")
	return cmd
}

// modelChanges is the model's part of registry.log, never nil so that
// JSON shows an empty list.
func modelChanges(r *registry.Registry, name string) ([]registry.Change, error) {
	all, err := r.Log()
	if err != nil {
		return nil, registryError(err)
	}
	out := []registry.Change{}
	for _, c := range all {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out, nil
}

func printChanges(w io.Writer, changes []registry.Change) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tALIAS\tVERSION\tPREVIOUS\tBY\tNOTE")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(c.Time), c.Action, c.Alias, c.Version, c.Previous, c.By, c.Note)
	}
	return tw.Flush()
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// formatPairs prints a map as sorted key=value pairs on one line.
func formatPairs(m map[string]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + sep + m[k]
	}
	return strings.Join(parts, " ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
