package route

import (
	"fmt"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring/registry"
)

// Which version a model named by registry alias is.
const (
	// RegistryCurrent: the version the alias points at now.
	RegistryCurrent = "current"
	// RegistryAsOfDate: the version it pointed at at the end of the
	// logical date, from the registry log, so that a backfill scores
	// history with the model that was in production then.
	RegistryAsOfDate = "as-of-date"
	registryPinned   = "pinned"
)

// resolveModel finds the model file a job section names: its path, or
// the registry entry (recorded in rep) and the sha256 the registry holds.
func (o *opener) resolveModel(m spec.Model, key string, rep *report.Model) (path, sha string, err error) {
	if m.Registry == "" {
		return m.Path, "", nil
	}
	reg, err := registry.Open(m.Registry)
	if err != nil {
		return "", "", fmt.Errorf("%s.registry: %w", key, err)
	}
	entry := &report.RegistryEntry{Dir: m.Registry, Name: m.Name, Alias: m.Alias, Policy: registryPinned}
	var res registry.Resolved
	switch {
	case m.Version != "":
		res, err = reg.Resolve(m.Name, "", m.Version)
	case o.RegistryModel == RegistryAsOfDate:
		entry.Policy = RegistryAsOfDate
		// The last instant of the date: a promote at midnight belongs to
		// the next one.
		end := time.Date(o.Date.Year(), o.Date.Month(), o.Date.Day()+1, 0, 0, 0, 0, o.Job.Location).Add(-time.Nanosecond)
		entry.AsOf = end.UTC()
		res, err = reg.ResolveAt(m.Name, m.Alias, end)
	default:
		entry.Policy = RegistryCurrent
		res, err = reg.Resolve(m.Name, m.Alias, "")
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", key, err)
	}
	entry.Version = res.Version
	rep.Registry = entry
	rep.Version = res.Name + ":" + res.Version
	return res.Path, res.SHA256, nil
}

// checkRegistryHash holds the bytes read to the registry's sha256: a
// model file changed behind the registry's back is never scored.
func checkRegistryHash(rep *report.Model, want string) error {
	if rep.Registry == nil {
		return nil
	}
	if rep.SHA256 != want {
		return fmt.Errorf("%w: %s: sha256 %s, registry.yaml in %s says %s for %s version %s",
			registry.ErrMismatch, rep.Path, rep.SHA256, rep.Registry.Dir, want, rep.Registry.Name, rep.Registry.Version)
	}
	return nil
}
