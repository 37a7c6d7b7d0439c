package jobs

import (
	"slices"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
)

// Which version a model named by registry alias is (Runner.RegistryModel).
const (
	RegistryCurrent  = route.RegistryCurrent
	RegistryAsOfDate = route.RegistryAsOfDate
)

// openPlan loads the models that score the run (package route). The
// manifest's model section is what loading found, even when it failed.
func (e *execution) openPlan() (*route.Plan, error) {
	p, models, err := route.Open(route.Config{
		Job: e.req.Job, Date: e.req.Date,
		ORTLib: e.ORTLib, ORTLibErr: e.ORTLibErr, RegistryModel: e.RegistryModel,
		Mem: e.mem(), Log: e.log,
		Table:    e.table,
		Previous: func() *report.Manifest { return previousPublished(e.table, e.date) },
		Keep:     append(append(slices.Clone(e.req.Job.Output.Keys), output.FlagsColumn), explainKeep(e.req.Job)...),
		Sessions: e.Reuse.sessions(),
	})
	e.m.Model = models.Champion
	if models.ORTVersion != "" {
		e.m.Binary.ORTVersion = models.ORTVersion
	}
	return p, err
}

// previousPublished is the newest published, successful run of a date
// before date: the scores a carry-forward fallback repeats.
func previousPublished(t *table.Table, date string) *report.Manifest {
	m, _, _, err := newestBefore(t, date, func(m *report.Manifest) bool {
		return m.Status == report.StatusSucceeded && m.Output.Published && m.Output.Path != ""
	})
	if err != nil {
		return nil
	}
	return m
}
