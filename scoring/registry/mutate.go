package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Add copies srcFile into <dir>/<name>/<version>/<base name> and lists it
// as a new version of name (a new model if need be). It sets no alias and
// refuses a version the model already has (ErrExists).
func (r *Registry) Add(name, version, srcFile string, metadata map[string]string, note string) (Version, error) {
	if err := checkName("model name", name); err != nil {
		return Version{}, err
	}
	if err := checkName("version", version); err != nil {
		return Version{}, err
	}
	base := filepath.Base(srcFile)
	if base == "." || base == ".." || base == string(filepath.Separator) {
		return Version{}, fmt.Errorf("%w: %q is not a file name", ErrInvalid, srcFile)
	}
	var added Version
	_, err := r.mutate(func(models []*model) ([]*model, Change, bool, error) {
		var m *model
		for _, x := range models {
			if x.name == name {
				m = x
			}
		}
		if m == nil {
			m = &model{name: name}
			models = append(models, m)
		}
		if _, ok := m.version(version); ok {
			return nil, Change{}, false, fmt.Errorf("model %q version %q %w in %s", name, version, ErrExists, r.yamlPath())
		}
		rel := filepath.Join(name, version, base)
		sum, err := copyFile(srcFile, filepath.Join(r.dir, rel))
		if err != nil {
			return nil, Change{}, false, err
		}
		added = Version{
			Version: version, File: filepath.ToSlash(rel), SHA256: sum,
			// Seconds are enough to read; order comes from the list.
			Created: r.now().UTC().Truncate(time.Second), Metadata: copyMap(metadata),
		}
		m.versions = append(m.versions, added)
		return models, Change{Action: actionAdd, Name: name, Version: version, Note: note}, true, nil
	})
	if err != nil {
		return Version{}, err
	}
	return added.clone(), nil
}

// Promote points alias at version, creating the alias if new. Promoting the
// version the alias already points at writes nothing; the Change returned
// then has Previous == Version.
func (r *Registry) Promote(name, version, alias, note string) (Change, error) {
	if err := checkName("alias", alias); err != nil {
		return Change{}, err
	}
	return r.mutate(func(models []*model) ([]*model, Change, bool, error) {
		m, err := findIn(models, name, r.yamlPath())
		if err != nil {
			return nil, Change{}, false, err
		}
		if _, ok := m.version(version); !ok {
			return nil, Change{}, false, fmt.Errorf("model %q has no version %q in %s: %w", name, version, r.yamlPath(), ErrNotFound)
		}
		previous, _ := m.alias(alias)
		c := Change{Action: actionPromote, Name: name, Alias: alias, Version: version, Previous: previous, Note: note}
		if previous == version {
			return models, c, false, nil
		}
		m.setAlias(alias, version)
		return models, c, true, nil
	})
}

// Rollback points alias back at the version it pointed at before its
// latest promote still in effect, as registry.log tells: after promotes of
// v1, v2 and v3, one rollback goes to v2 and a second to v1. With no
// earlier version it is ErrNotFound.
func (r *Registry) Rollback(name, alias, note string) (Change, error) {
	if err := checkName("alias", alias); err != nil {
		return Change{}, err
	}
	return r.mutate(func(models []*model) ([]*model, Change, bool, error) {
		m, err := findIn(models, name, r.yamlPath())
		if err != nil {
			return nil, Change{}, false, err
		}
		current, ok := m.alias(alias)
		if !ok {
			return nil, Change{}, false, fmt.Errorf("model %q has no alias %q in %s: %w", name, alias, r.yamlPath(), ErrNotFound)
		}
		changes, err := r.Log()
		if err != nil {
			return nil, Change{}, false, err
		}
		history := aliasHistory(changes, name, alias)
		switch {
		case len(history) > 0 && history[len(history)-1] != current:
			return nil, Change{}, false, fmt.Errorf("%w: %s says %s/%s is %s but %s says %s; promote the version you want instead",
				ErrInvalid, r.yamlPath(), name, alias, current, r.logPath(), history[len(history)-1])
		case len(history) < 2:
			return nil, Change{}, false, fmt.Errorf("%s/%s has no earlier version to roll back to in %s (it is %s): %w",
				name, alias, r.logPath(), current, ErrNotFound)
		}
		target := history[len(history)-2]
		if _, ok := m.version(target); !ok {
			return nil, Change{}, false, fmt.Errorf("rolling %s/%s back: version %q is no longer in %s: %w", name, alias, target, r.yamlPath(), ErrNotFound)
		}
		m.setAlias(alias, target)
		return models, Change{Action: actionRollback, Name: name, Alias: alias, Version: target, Previous: current, Note: note}, true, nil
	})
}

// mutate runs one change under the folder lock on a fresh read of
// registry.yaml, then rewrites registry.yaml and appends the log line. The
// change function may edit the models it is given; it reports whether it
// changed anything.
func (r *Registry) mutate(change func([]*model) ([]*model, Change, bool, error)) (Change, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	unlock, err := lockFolder(r.dir)
	if err != nil {
		return Change{}, err
	}
	defer unlock()
	models, err := r.load() // another process may have changed it since Open
	if err != nil {
		return Change{}, err
	}
	models, c, changed, err := change(models)
	if err != nil {
		return Change{}, err
	}
	c.Time, c.By = r.now().UTC(), currentUser()
	if !changed {
		r.models = models
		return c, nil
	}
	data, err := encodeRegistry(models)
	if err != nil {
		return Change{}, err
	}
	before, err := os.ReadFile(r.yamlPath())
	if err != nil {
		return Change{}, err
	}
	// registry.yaml first: it is what scoring reads; a crash before the
	// log line leaves a change without its record, never the reverse.
	if err := writeAtomic(r.yamlPath(), data); err != nil {
		return Change{}, err
	}
	if err := appendLog(r.logPath(), c); err != nil {
		// An error (not a crash): put registry.yaml back, so that the
		// change is either whole, with its log line, or not made.
		if uerr := writeAtomic(r.yamlPath(), before); uerr != nil {
			return Change{}, fmt.Errorf("%w; registry.yaml keeps the change without its log line: %v", err, uerr)
		}
		return Change{}, err
	}
	r.models = models
	return c, nil
}

func findIn(models []*model, name, path string) (*model, error) {
	for _, m := range models {
		if m.name == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("model %q %w in %s", name, ErrNotFound, path)
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
