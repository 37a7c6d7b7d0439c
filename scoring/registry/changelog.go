package registry

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"
)

// Actions recorded in registry.log.
const (
	actionAdd      = "add"
	actionPromote  = "promote"
	actionRollback = "rollback"
)

// Change is one line of registry.log.
type Change struct {
	Time     time.Time `json:"time"` // UTC
	Action   string    `json:"action"`
	Name     string    `json:"name"`
	Alias    string    `json:"alias"`
	Version  string    `json:"version"`
	Previous string    `json:"previous"` // the alias's version before the change; empty for a new alias or an add
	By       string    `json:"by"`
	Note     string    `json:"note"`
}

// Log returns every change recorded in registry.log, oldest first. A
// registry without a log has no changes.
func (r *Registry) Log() ([]Change, error) {
	path := r.logPath()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry log: %w", err)
	}
	defer f.Close()
	var changes []Change
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a note may be long
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c Change
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrInvalid, path, line, err)
		}
		changes = append(changes, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return changes, nil
}

// appendLog adds one line with a single write, so concurrent readers see
// whole lines; the caller holds the folder lock.
func appendLog(path string, c Change) error {
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("appending to registry log: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		return syncDir(path)
	}
	return nil
}

// aliasHistory replays the log for one alias: the versions a rollback can
// return to, oldest first, the current one last. A promote pushes; a
// rollback pops, so two rollbacks undo the last two promotes.
func aliasHistory(changes []Change, name, alias string) []string {
	var stack []string
	for _, c := range changes {
		if c.Name != name || c.Alias != alias {
			continue
		}
		switch c.Action {
		case actionPromote:
			stack = append(stack, c.Version)
		case actionRollback:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			// A log that was edited by hand may disagree; trust its last word.
			if len(stack) == 0 || stack[len(stack)-1] != c.Version {
				stack = append(stack, c.Version)
			}
		}
	}
	return stack
}

// aliasAt returns the last promote or rollback of the alias at or before
// at, in log order.
func aliasAt(changes []Change, name, alias string, at time.Time) (Change, bool) {
	var found Change
	ok := false
	for _, c := range changes {
		if c.Name == name && c.Alias == alias && (c.Action == actionPromote || c.Action == actionRollback) && !c.Time.After(at) {
			found, ok = c, true
		}
	}
	return found, ok
}

func firstPromote(changes []Change, name, alias string) (Change, bool) {
	for _, c := range changes {
		if c.Name == name && c.Alias == alias && c.Action == actionPromote {
			return c, true
		}
	}
	return Change{}, false
}

// currentUser names who made a change: $USER, else the account name.
func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}
