package route

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/scoring"
)

// Stage says how far the run got, for the plan's report.
type Stage struct {
	FallbackRows, ValidRows int64
	// Published: the version went out, to Path. Final: the run is over,
	// so side-table files staged but never published are gone.
	Published bool
	Path      string
	Final     bool
}

// Report is the plan's sections of the manifest. Sections the job does
// not have are nil; Champion says whether Engine and NonFinite are set.
type Report struct {
	Champion   bool
	Engine     string // the first chunk can change it
	NonFinite  map[string]report.NonFinite
	Fallback   *report.Fallback
	Challenger *report.Challenger
	Review     *report.Review
	Arms       *report.Arms
}

// Report is what the plan saw: while staging (the side tables' staged
// files listed) and at the end (listed only if published).
func (p *Plan) Report(st Stage) Report {
	var r Report
	if p.champion != nil {
		r.Champion, r.Engine = true, p.champion.engine()
	}
	if p.scorer != nil {
		r.NonFinite = nonFinite(p.scorer.NonFinite())
	}
	if p.fallback != nil {
		r.Fallback = p.fallback.summary(st.FallbackRows, st.ValidRows)
	}
	if p.challenger != nil {
		r.Challenger = p.challenger.summary()
		if p.canary != nil {
			r.Challenger.Rollout = p.canary.summary()
		}
		if st.Published && len(r.Challenger.Files) > 0 {
			r.Challenger.Path = filepath.Join(st.Path, output.ShadowDir)
		}
	}
	if p.arms != nil {
		champion := report.Model{Version: "unavailable"}
		if p.champion != nil {
			champion = p.champion.report
			champion.Engine = r.Engine
		}
		r.Arms = p.arms.summary(champion)
	}
	if p.review != nil {
		r.Review = p.review.summary()
		if st.Published && len(r.Review.Files) > 0 {
			r.Review.Path = filepath.Join(st.Path, output.ReviewDir)
		}
	}
	if st.Final && !st.Published {
		// Staged, never published, now gone.
		if r.Challenger != nil {
			r.Challenger.Files = nil
		}
		if r.Review != nil {
			r.Review.Files = nil
		}
	}
	return r
}

// ModelHashes identify every model that shapes a version's files, for
// its run id: the champion's, then the challenger's and fallback's, and
// the baseline's bytes (imputation and review ranges come from it). A
// model from a registry adds its version's name, which rows carry in
// model_version: promoting a version whose file is byte-identical to the
// current one still makes a new version. Models named by path add
// nothing, so their run ids stay what they were.
func (p *Plan) ModelHashes(champion *report.Model, baseline string) string {
	h := champion.SHA256 + registryVersion(champion)
	if baseline != "" {
		if data, err := os.ReadFile(baseline); err == nil {
			sum := sha256.Sum256(data)
			h += "+baseline:" + hex.EncodeToString(sum[:])
		}
	}
	if p.challenger != nil && p.challenger.model != nil {
		h += "+" + p.challenger.model.report.SHA256 + registryVersion(&p.challenger.model.report)
	}
	if p.fallback != nil && p.fallback.model != nil {
		h += "+" + p.fallback.model.report.SHA256 + registryVersion(&p.fallback.model.report)
	}
	if p.arms != nil {
		for _, a := range p.arms.arms {
			if a.model != nil {
				h += "+" + a.name + ":" + a.model.report.SHA256 + registryVersion(&a.model.report)
			}
		}
	}
	return h
}

// registryVersion is "@<name>:<version>" for a model from a registry,
// "" for one named by path.
func registryVersion(m *report.Model) string {
	if m.Registry == nil {
		return ""
	}
	return "@" + m.Registry.Name + ":" + m.Registry.Version
}

// nonFinite is counts in the manifest's own type.
func nonFinite(counts map[string]scoring.NonFinite) map[string]report.NonFinite {
	if counts == nil {
		return nil
	}
	out := make(map[string]report.NonFinite, len(counts))
	for col, n := range counts {
		out[col] = report.NonFinite{NaN: n.NaN, PosInf: n.PosInf, NegInf: n.NegInf, BeyondFloat32: n.BeyondFloat32}
	}
	return out
}
