package report

// Challenger statuses.
const (
	ChallengerCompared = "compared"
	ChallengerFailed   = "failed"
)

// Challenger compares a challenger's scores with the champion's on the
// same rows. It never decides the run.
type Challenger struct {
	Model  Model  `json:"model"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Rows compared: valid rows the champion itself scored.
	Rows        int64   `json:"rows"`
	MeanAbsDiff float64 `json:"mean_abs_diff"`
	MaxAbsDiff  float64 `json:"max_abs_diff"`
	// Spearman and TopDecileOverlap are computed on SampleRows rows (all
	// of them up to a limit, a seeded reservoir sample beyond).
	Spearman         float64 `json:"spearman"`
	TopDecileOverlap float64 `json:"top_decile_overlap"`
	SampleRows       int64   `json:"sample_rows"`
	// Flipped counts rows on different sides of Threshold; Up are those
	// the challenger puts at or above it and the champion below.
	Threshold   float64     `json:"threshold"`
	Flipped     int64       `json:"flipped"`
	FlippedUp   int64       `json:"flipped_up"`
	FlippedDown int64       `json:"flipped_down"`
	Histogram   []ShadowBin `json:"histogram,omitempty"`
	Path        string      `json:"path,omitempty"` // the shadow table's files, once published
	Files       []File      `json:"files,omitempty"`
	// Rollout is the canary, when the job has one.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// Rollout states of a canary.
const (
	RolloutActive = "active" // canary rows publish the challenger's scores
	RolloutOff    = "off"    // the challenger did not load: every row is the champion's
)

// Rollout is a canary's assignment: Assigned rows had a key hash below
// Share; Arms counts the rows by the model whose score was published;
// FellBack counts canary rows the challenger could not score, which kept
// the champion's score (gated by Limit, a share of Assigned).
type Rollout struct {
	Share    float64          `json:"share"`
	Salt     string           `json:"salt"`
	Status   string           `json:"status"`
	Reason   string           `json:"reason,omitempty"`
	Assigned int64            `json:"assigned"`
	Arms     map[string]int64 `json:"arms"`
	FellBack int64            `json:"fell_back"`
	Limit    float64          `json:"limit"`
}

// ShadowBin counts both models' scores in one bin [Lo, Hi).
type ShadowBin struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Champion   int64   `json:"champion"`
	Challenger int64   `json:"challenger"`
}

// Fallback is what scored the rows the model could not.
type Fallback struct {
	Kind     string  `json:"kind"`
	Rows     int64   `json:"rows"`
	Fraction float64 `json:"fraction"`
	Limit    float64 `json:"max_fallback_fraction"`
	// Triggers counts fallback rows by cause: model_load, inference, nan.
	Triggers map[string]int64 `json:"triggers,omitempty"`
	// CarriedFrom is the version whose scores were carried forward.
	CarriedFrom string   `json:"carried_from,omitempty"`
	Model       *Model   `json:"model,omitempty"`
	Errors      []string `json:"errors,omitempty"` // the first few causes
}

// Review counts the rows routed to the review table, per reason; a row
// with several reasons counts under each.
type Review struct {
	Rows    int64            `json:"rows"`
	Reasons map[string]int64 `json:"reasons"`
	Path    string           `json:"path,omitempty"`
	Files   []File           `json:"files,omitempty"`
}

// Arms is an A/B test's assignment (arms: in the job file): its salt,
// the champion's arm (Default), and per arm, in the order listed, its
// model and counts. Limit gates each arm's FellBack as a share of its
// Assigned.
type Arms struct {
	Salt    string  `json:"salt"`
	Default string  `json:"default"`
	Limit   float64 `json:"limit"`
	Arms    []Arm   `json:"arms"`
}

// Arm states.
const (
	ArmActive = "active" // the arm's rows publish its model's scores
	ArmFailed = "failed" // its model failed to load or on a chunk: those rows fell back
)

// Arm is one arm: Assigned rows had their key hash in its share,
// Published rows publish its model's score (the default arm's include
// the other arms' rows that fell back to it), FellBack are its assigned
// rows that kept the champion's score because its model failed (Error,
// the first failure in snapshot order).
type Arm struct {
	Name      string  `json:"name"`
	Share     float64 `json:"share"`
	Model     Model   `json:"model"`
	Status    string  `json:"status"`
	Error     string  `json:"error,omitempty"`
	Assigned  int64   `json:"assigned"`
	Published int64   `json:"published"`
	FellBack  int64   `json:"fell_back"`
}

// ArmCount is one arm of a rollout, canary or A/B test, as runs, show,
// the report and the metrics list it.
type ArmCount struct {
	Name      string  `json:"name"`
	Version   string  `json:"version"`
	Share     float64 `json:"share"`
	Assigned  int64   `json:"assigned"`
	Published int64   `json:"published"`
	FellBack  int64   `json:"fell_back"`
}

// RolloutView is a run's rollout in one shape for both kinds: Kind is
// "canary" (challenger.rollout) or "arms"; nil when the run has neither.
type RolloutView struct {
	Kind   string     `json:"kind"`
	Salt   string     `json:"salt"`
	Status string     `json:"status"`
	Reason string     `json:"reason,omitempty"`
	Limit  float64    `json:"limit"`
	Arms   []ArmCount `json:"arms"`
}

// Rollout views the manifest's canary or arms; nil without either.
func (m *Manifest) Rollout() *RolloutView {
	if a := m.Arms; a != nil {
		v := &RolloutView{Kind: "arms", Salt: a.Salt, Status: RolloutActive, Limit: a.Limit}
		for _, arm := range a.Arms {
			if arm.Status == ArmFailed && v.Reason == "" {
				v.Status, v.Reason = ArmFailed, arm.Name+": "+arm.Error
			}
			v.Arms = append(v.Arms, ArmCount{Name: arm.Name, Version: arm.Model.Version, Share: arm.Share,
				Assigned: arm.Assigned, Published: arm.Published, FellBack: arm.FellBack})
		}
		return v
	}
	c := m.Challenger
	if c == nil || c.Rollout == nil {
		return nil
	}
	r := c.Rollout
	rows := r.Arms["champion"] + r.Arms["challenger"]
	return &RolloutView{Kind: "canary", Salt: r.Salt, Status: r.Status, Reason: r.Reason, Limit: r.Limit, Arms: []ArmCount{
		{Name: "champion", Version: m.Model.Version, Share: 1 - r.Share, Assigned: rows - r.Assigned, Published: r.Arms["champion"]},
		{Name: "challenger", Version: c.Model.Version, Share: r.Share, Assigned: r.Assigned, Published: r.Arms["challenger"], FellBack: r.FellBack},
	}}
}

// MergeArms adds a shard's arms to a commit's (nil: none yet): the counts
// are summed per arm, the first failure kept. Shards of one commit run
// one job file, so their arms are the same, in the same order.
func MergeArms(into, s *Arms) *Arms {
	if s == nil {
		return into
	}
	if into == nil {
		c := *s
		c.Arms = append([]Arm(nil), s.Arms...)
		return &c
	}
	for i := range into.Arms {
		if i >= len(s.Arms) {
			break
		}
		a, b := &into.Arms[i], s.Arms[i]
		a.Assigned += b.Assigned
		a.Published += b.Published
		a.FellBack += b.FellBack
		if a.Status != ArmFailed && b.Status == ArmFailed {
			a.Status, a.Error = b.Status, b.Error
		}
	}
	return into
}
