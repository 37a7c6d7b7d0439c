package jobs

import (
	"github.com/batchscore/batchscore/jobs/route"
)

// The manifest is assembled here from the sections the packages that own
// them return: route (model engine, non-finite inputs, fallback,
// challenger, review), resume (reused chunks), shard (a commit's shards).

// recordPlan puts the plan's report into the manifest: while staging
// (final false: the side tables' staged files listed) and at the end
// (listed only if published).
func (e *execution) recordPlan(p *route.Plan, final bool) {
	m := e.m
	r := p.Report(route.Stage{
		FallbackRows: m.Counts.Fallback, ValidRows: m.Counts.Valid,
		Published: m.Output.Published, Path: m.Output.Path, Final: final,
	})
	if r.Champion {
		m.Model.Engine, m.NonFiniteInputs = r.Engine, r.NonFinite
	}
	if r.Fallback != nil {
		m.Fallback = r.Fallback
	}
	if r.Challenger != nil {
		m.Challenger = r.Challenger
	}
	if r.Review != nil {
		m.Review = r.Review
	}
	if r.Arms != nil {
		m.Arms = r.Arms
	}
}
