package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/batchscore/batchscore/io/blob"
)

// A table belongs to one job. Two jobs writing one table would take turns
// at being current, list each other's runs and compare drift and row
// counts with each other's versions, all with exit 0: so the first job
// that writes to a table records its name in <table>/_owner.json (for a
// table on object storage, the object <prefix>/_owner.json, written with
// If-None-Match so that two first runs cannot both claim it), and any
// other job is refused before it writes anything. A table from before
// owners were recorded is adopted by the first job that writes to it.
// Renaming a job is a deliberate act: Own with reown replaces the owner
// and keeps the old name in Previous, so that its runs stay the job's
// history.

// ErrOwner marks a table that belongs to another job.
var ErrOwner = errors.New("belongs to another job")

// ErrOwnerRecord marks an owner record that cannot be read: a person has
// to mend it, so a retry does not help.
var ErrOwnerRecord = errors.New("unreadable owner record")

const ownerFile = "_owner.json"

// Owner is the job a table belongs to.
type Owner struct {
	Job     string    `json:"job"`
	JobFile string    `json:"job_file,omitempty"` // of the run that recorded it, on its machine
	Since   time.Time `json:"since"`
	// Previous are the job's earlier names, oldest first: their runs are
	// this job's history.
	Previous []string `json:"previous,omitempty"`
}

// Names is the owner's name and its earlier ones.
func (o *Owner) Names() []string {
	return append(slices.Clone(o.Previous), o.Job)
}

// Claim is what Own found and did.
type Claim struct {
	Owner Owner
	// Claimed: the table had no owner; Owner was recorded now. Adopted:
	// and it already had published versions (a table from before owners
	// were recorded).
	Claimed, Adopted bool
	// Reowned is the owner Own replaced ("" none).
	Reowned string
}

// Owner returns the job recorded as the table's owner, nil if none. For a
// table on object storage it is the bucket's record as of Open or Mirror.
func (t *Table) Owner() (*Owner, error) {
	data, err := os.ReadFile(filepath.Join(t.Root, ownerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("result table %s: %w", t.Name(), err)
	}
	return t.parseOwner(data)
}

func (t *Table) parseOwner(data []byte) (*Owner, error) {
	var o Owner
	if err := json.Unmarshal(data, &o); err != nil || o.Job == "" {
		return nil, fmt.Errorf("result table %s: %w: %s does not name the job the table belongs to (%v); remove it and run %q to record one",
			t.Name(), ErrOwnerRecord, ownerFile, err, "batchscore reown JOB.yaml")
	}
	return &o, nil
}

// CheckOwner refuses a job the table does not belong to; a table without
// an owner belongs to nobody yet and passes. It records nothing.
func (t *Table) CheckOwner(job, jobFile string) error {
	o, err := t.Owner()
	if err != nil || o == nil {
		return err
	}
	return t.ownedBy(o, job, jobFile)
}

func (t *Table) ownedBy(o *Owner, job, jobFile string) error {
	if o.Job == job {
		return nil
	}
	by := ""
	if o.JobFile != "" {
		by = " (" + o.JobFile + ")"
	}
	return fmt.Errorf("result table %s %w: job %q%s since %s; job %q (%s) may not write to it or read its history: "+
		"give %q its own output.table, or, if %q is %q renamed, run \"batchscore reown %s\" once",
		t.Name(), ErrOwner, o.Job, by, o.Since.Format(time.RFC3339), job, jobFile, job, job, o.Job, jobFile)
}

// Own makes sure the table belongs to job: it records job as the owner of
// a table that has none, and refuses (ErrOwner) when another job owns it,
// unless reown, which records job in its place.
func (t *Table) Own(job, jobFile string, reown bool) (Claim, error) {
	if job == "" {
		return Claim{}, fmt.Errorf("result table %s: no job name to record as its owner", t.Name())
	}
	now := Owner{Job: job, JobFile: jobFile, Since: time.Now().UTC()}
	for attempt := 0; attempt < 3; attempt++ {
		cur, etag, err := t.readOwner()
		if err != nil {
			return Claim{}, err
		}
		switch {
		case cur == nil:
			adopted := t.hasRuns()
			err = t.createOwner(now)
			if errors.Is(err, fs.ErrExist) {
				continue // another run claimed it meanwhile: look again
			}
			return Claim{Owner: now, Claimed: true, Adopted: adopted}, err
		case cur.Job == job:
			return Claim{Owner: *cur}, nil
		case !reown:
			return Claim{}, t.ownedBy(cur, job, jobFile)
		}
		now.Previous = slices.DeleteFunc(cur.Names(), func(n string) bool { return n == job })
		err = t.replaceOwner(now, etag)
		if errors.Is(err, blob.ErrChanged) || errors.Is(err, blob.ErrNotFound) {
			continue
		}
		return Claim{Owner: now, Reowned: cur.Job}, err
	}
	return Claim{}, fmt.Errorf("result table %s: its owner changed three times while this run read it", t.Name())
}

// hasRuns says whether a version was published in the table.
func (t *Table) hasRuns() bool {
	cur, _ := os.ReadDir(filepath.Join(t.Root, "current"))
	return len(cur) > 0
}

// readOwner reads the owner where it is decided: the store (for a table
// on object storage the bucket, with its ETag).
func (t *Table) readOwner() (*Owner, string, error) {
	data, tag, err := t.store().ReadOwner(context.Background())
	if err != nil || data == nil {
		return nil, "", t.ownerError("reading", err)
	}
	o, err := t.parseOwner(data)
	return o, tag, err
}

// createOwner records the first owner; fs.ErrExist when another run did
// first.
func (t *Table) createOwner(o Owner) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return t.ownerError("recording", t.store().CreateOwner(context.Background(), data))
}

// replaceOwner records a new owner over the one read with tag.
func (t *Table) replaceOwner(o Owner, tag string) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return t.ownerError("recording", t.store().ReplaceOwner(context.Background(), data, tag))
}
