package route

import (
	"errors"
	"fmt"
	"slices"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
	"github.com/batchscore/batchscore/scoring/registry"
)

// loaded is a model opened for scoring: the champion, a challenger or a
// fallback model.
type loaded struct {
	report  report.Model
	binding *scoring.Binding // the job's, which its columns are checked against
	feed    *scoring.Binding // what fills the session's inputs (onnx.Session.Feed)
	session scoring.Session
}

// engine is the session's engine now: a native engine that disagreed with
// ONNX Runtime on the first chunk has handed over to it.
func (l *loaded) engine() string {
	if s, ok := l.session.(interface{ Engine() string }); ok {
		return s.Engine()
	}
	return l.report.Engine
}

func (l *loaded) close() {
	if l != nil && l.session != nil {
		l.session.Close()
	}
}

// loadModel reads a model once (from its path or the registry), checks
// its signature against the job file's section at key and opens the
// session the workers share. What is known goes into rep even on error.
func (o *opener) loadModel(m spec.Model, key string, rep *report.Model) (*loaded, error) {
	job := o.Job
	path, wantSHA, err := o.resolveModel(m, key, rep)
	if err != nil {
		return nil, err
	}
	rep.Path = path
	model, err := onnx.Load(path)
	if errors.Is(err, onnx.ErrNoModel) {
		return nil, fmt.Errorf("%w (%s.path in %s)", err, key, job.File)
	}
	if err != nil {
		return nil, err
	}
	rep.SHA256 = model.SHA256
	if err := checkRegistryHash(rep, wantSHA); err != nil {
		return nil, err
	}
	if rep.Version == "" {
		rep.Version = m.Version
	}
	if rep.Version == "" {
		rep.Version = "sha256:" + model.SHA256[:12]
	}
	if o.ORTLibErr != nil {
		return nil, o.ORTLibErr
	}
	if err := onnx.Init(o.ORTLib); err != nil {
		return nil, err
	}
	o.models.ORTVersion = onnx.Version()
	sig, md, err := o.Sessions.Inspect(model)
	if err != nil {
		return nil, err
	}
	rep.Signature, rep.Metadata = signature(sig), metadata(md)
	binding, err := scoring.BindAs(key, sig, m.Wiring())
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", path, key, err)
	}
	if err := checkZipMapClass(model, binding.Score, key, job); err != nil {
		return nil, err
	}
	engine := job.Scoring.Engine
	if engine == onnx.EngineNative && key != job.ModelKey() {
		engine = onnx.EngineAuto // native is required of the champion only
	}
	sess, err := o.Sessions.Open(model, binding, onnx.Options{
		IntraOpThreads: job.Scoring.IntraOpThreads,
		Optimization:   job.Scoring.Optimization,
		Engine:         engine,
	})
	if errors.Is(err, onnx.ErrNotNative) {
		return nil, fmt.Errorf("%w (%s, scoring.engine in %s)", err, key, job.File)
	}
	if err != nil {
		return nil, err
	}
	rep.Rewrites, rep.Engine = sess.Rewrites(), sess.Engine()
	o.Log.Info("model loaded", "role", key, "path", path, "model_version", rep.Version, "engine", rep.Engine)
	for _, r := range rep.Rewrites {
		o.Log.Info("model rewritten in memory", "role", key, "rewrite", r)
	}
	return &loaded{report: *rep, binding: binding, feed: sess.Feed(), session: sess}, nil
}

// fallsBack says whether a champion that failed to load with err may be
// replaced by the fallback. A file that differs from the registry's hash
// or names no registry entry, or a model that does not fit the job file,
// is never papered over.
func fallsBack(err error) bool {
	return !errors.Is(err, registry.ErrMismatch) && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrInvalid) &&
		!errors.Is(err, scoring.ErrSignature) && !errors.Is(err, spec.ErrInvalid) &&
		!errors.Is(err, onnx.ErrNotNative)
}

// checkZipMapClass refuses, at load, a score class that the model's ZipMap
// output does not have; otherwise the first chunk would find it, after the
// snapshot was opened.
func checkZipMapClass(model *onnx.Model, ob scoring.OutputBinding, key string, job *spec.Job) error {
	if ob.Port.Kind != scoring.KindSequence || ob.Class == nil {
		return nil
	}
	classes, ok := model.ZipMapClasses(ob.Port.Name)
	if !ok || slices.Contains(classes, *ob.Class) {
		return nil
	}
	return job.KeyError(key+".score.class", "%d is not a class of output %s (a ZipMap); its classes are %v",
		*ob.Class, ob.Port.Name, classes)
}

// signature is sig in the manifest's own type.
func signature(sig scoring.Signature) *report.Signature {
	ports := func(ps []scoring.Port) []report.Port {
		if ps == nil {
			return nil
		}
		out := make([]report.Port, len(ps))
		for i, p := range ps {
			out[i] = report.Port{Name: p.Name, Kind: p.Kind, Elem: p.Elem, Shape: p.Shape}
		}
		return out
	}
	return &report.Signature{Inputs: ports(sig.Inputs), Outputs: ports(sig.Outputs)}
}

// metadata is md in the manifest's own type.
func metadata(md onnx.Metadata) *report.ModelMetadata {
	return &report.ModelMetadata{
		Producer: md.Producer, GraphName: md.GraphName, Domain: md.Domain,
		Description: md.Description, Version: md.Version, Custom: md.Custom,
	}
}
