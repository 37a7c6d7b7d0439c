// Package registry keeps model versions and the aliases that point at them
// (prod, staging) in a folder: the model files, a registry.yaml listing
// versions and aliases, and registry.log, an append-only JSON-lines record
// of every change. The log is what makes rollbacks and "which model was
// prod on that date" answerable; registry.yaml is only the present.
//
// A Registry is a snapshot of registry.yaml as read by Open or left by its
// last mutation; its methods are safe for concurrent use. Mutations take an
// exclusive flock on the folder, so several processes may share a registry.
package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

var (
	// ErrNotFound marks a registry, model, version or alias that does not
	// exist, or a rollback with nothing to go back to.
	ErrNotFound = errors.New("not found")
	// ErrMismatch marks a model file whose sha256 differs from registry.yaml.
	ErrMismatch = errors.New("sha256 mismatch")
	// ErrInvalid marks a malformed registry.yaml or registry.log, or a name
	// or argument that could not be valid in one.
	ErrInvalid = errors.New("invalid registry")
	// ErrExists marks an Add of a version the model already has.
	ErrExists = errors.New("already exists")
)

const (
	fileName = "registry.yaml"
	logName  = "registry.log"
	lockName = ".registry.lock"
)

// Version is one registered model file.
type Version struct {
	Version  string            `json:"version"`
	File     string            `json:"file"` // relative to the registry folder, with slashes
	SHA256   string            `json:"sha256"`
	Created  time.Time         `json:"created"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Resolved is a model file picked by alias or version.
type Resolved struct {
	Registry string // absolute folder
	Name     string
	Version  string
	Alias    string    // empty when pinned by version
	Path     string    // absolute path of the model file
	SHA256   string    // from registry.yaml
	AsOf     time.Time // zero: the alias as it is now; else: as the log says it was at AsOf
}

// Registry is an open registry folder.
type Registry struct {
	dir string
	now func() time.Time // tests move the clock

	mu     sync.Mutex
	models []*model // in file order
}

// model is one entry of registry.yaml; versions and aliases keep the file's
// order so a rewrite changes only the lines that changed.
type model struct {
	name     string
	versions []Version
	aliases  []alias
}

type alias struct{ name, version string }

// Open reads the registry in dir. A folder without registry.yaml is
// ErrNotFound.
func Open(dir string) (*Registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", dir, err)
	}
	r := &Registry{dir: abs, now: time.Now}
	models, err := r.load()
	if err != nil {
		return nil, err
	}
	r.models = models
	return r, nil
}

// Init creates dir and an empty registry.yaml unless they exist, and opens
// the registry.
func Init(dir string) (*Registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry: %w", err)
	}
	unlock, err := lockFolder(abs)
	if err != nil {
		return nil, err
	}
	defer unlock()
	path := filepath.Join(abs, fileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		data, err := encodeRegistry(nil)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(path, data); err != nil {
			return nil, err
		}
	}
	return Open(abs)
}

// Dir returns the registry's absolute folder.
func (r *Registry) Dir() string { return r.dir }

// Models returns the model names, sorted.
func (r *Registry) Models() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, len(r.models))
	for i, m := range r.models {
		names[i] = m.name
	}
	sort.Strings(names)
	return names
}

// Versions returns a model's versions in registration order.
func (r *Registry) Versions(name string) ([]Version, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.find(name)
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(m.versions))
	for i, v := range m.versions {
		out[i] = v.clone()
	}
	return out, nil
}

// Aliases returns a model's aliases and the versions they point at.
func (r *Registry) Aliases(name string) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.find(name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m.aliases))
	for _, a := range m.aliases {
		out[a.name] = a.version
	}
	return out, nil
}

// Resolve picks a model file by alias or by version; exactly one of them
// is set. It does not read the file: compare the hash of the bytes you
// load with SHA256.
func (r *Registry) Resolve(name, alias, version string) (Resolved, error) {
	if (alias == "") == (version == "") {
		return Resolved{}, fmt.Errorf("%w: resolving model %q: give an alias or a version, not both or neither", ErrInvalid, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.find(name)
	if err != nil {
		return Resolved{}, err
	}
	if alias != "" {
		a, ok := m.alias(alias)
		if !ok {
			return Resolved{}, fmt.Errorf("model %q has no alias %q in %s: %w", name, alias, r.yamlPath(), ErrNotFound)
		}
		version = a
	}
	return r.resolved(m, alias, version, time.Time{})
}

// ResolveAt picks the version an alias pointed at, at time at, by
// replaying registry.log. An alias promoted after at is ErrNotFound. A zero
// at is the alias as it is now.
func (r *Registry) ResolveAt(name, alias string, at time.Time) (Resolved, error) {
	if at.IsZero() {
		return r.Resolve(name, alias, "")
	}
	if alias == "" {
		return Resolved{}, fmt.Errorf("%w: resolving model %q at %s: no alias given", ErrInvalid, name, at.Format(time.RFC3339))
	}
	changes, err := r.Log()
	if err != nil {
		return Resolved{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.find(name)
	if err != nil {
		return Resolved{}, err
	}
	c, ok := aliasAt(changes, name, alias, at)
	if !ok {
		first := "registry.log has no promote of it"
		if f, ok := firstPromote(changes, name, alias); ok {
			first = "it was first promoted at " + f.Time.Format(time.RFC3339Nano)
		}
		return Resolved{}, fmt.Errorf("alias %q of model %q did not exist yet at %s (%s): %w",
			alias, name, at.Format(time.RFC3339Nano), first, ErrNotFound)
	}
	return r.resolved(m, alias, c.Version, at)
}

func (r *Registry) resolved(m *model, alias, version string, at time.Time) (Resolved, error) {
	v, ok := m.version(version)
	if !ok {
		return Resolved{}, fmt.Errorf("model %q has no version %q in %s: %w", m.name, version, r.yamlPath(), ErrNotFound)
	}
	return Resolved{
		Registry: r.dir, Name: m.name, Version: v.Version, Alias: alias,
		Path: filepath.Join(r.dir, filepath.FromSlash(v.File)), SHA256: v.SHA256, AsOf: at,
	}, nil
}

// find needs r.mu held.
func (r *Registry) find(name string) (*model, error) {
	for _, m := range r.models {
		if m.name == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("model %q %w in %s", name, ErrNotFound, r.yamlPath())
}

func (r *Registry) yamlPath() string { return filepath.Join(r.dir, fileName) }
func (r *Registry) logPath() string  { return filepath.Join(r.dir, logName) }

// load reads registry.yaml from disk.
func (r *Registry) load() ([]*model, error) {
	path := r.yamlPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no registry at %s (%s %w)", r.dir, path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry: %w", err)
	}
	return parseRegistry(path, data)
}

func (m *model) version(v string) (Version, bool) {
	for _, x := range m.versions {
		if x.Version == v {
			return x, true
		}
	}
	return Version{}, false
}

func (m *model) alias(name string) (string, bool) {
	for _, a := range m.aliases {
		if a.name == name {
			return a.version, true
		}
	}
	return "", false
}

// setAlias points an alias at a version, appending it when new so the
// other aliases keep their lines.
func (m *model) setAlias(name, version string) {
	for i, a := range m.aliases {
		if a.name == name {
			m.aliases[i].version = version
			return
		}
	}
	m.aliases = append(m.aliases, alias{name, version})
}

func (v Version) clone() Version {
	if v.Metadata != nil {
		md := make(map[string]string, len(v.Metadata))
		for k, x := range v.Metadata {
			md[k] = x
		}
		v.Metadata = md
	}
	return v
}
