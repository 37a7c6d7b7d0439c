package route

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
)

// Arms, as the result rows' arm column names them.
const (
	ArmChampion   = "champion"
	ArmChallenger = "challenger"
)

// sourceCanaryFallback is score_source for a canary row the challenger
// could not score: it has the champion's score.
const sourceCanaryFallback = "canary_fallback"

// KeyHash is the canary's stable hash of a row's keys: the first 8 bytes,
// big-endian, of SHA-256 over enc(salt) followed by enc(v) for each key
// value in the job's key order, where enc(b) is the decimal byte length
// of b, ":" and b. An integer key's b is its decimal text (so int32 and
// int64 columns agree), a string's its UTF-8 bytes. ok is false for a
// row with a null key: it stays with the champion.
func KeyHash(salt string, keys []arrow.Array, row int) (h uint64, ok bool) {
	buf := make([]byte, 0, 64)
	buf = appendEnc(buf, []byte(salt))
	for _, k := range keys {
		v, ok := keyBytes(k, row)
		if !ok {
			return 0, false
		}
		buf = appendEnc(buf, v)
	}
	sum := sha256.Sum256(buf)
	return binary.BigEndian.Uint64(sum[:8]), true
}

func appendEnc(buf, b []byte) []byte {
	buf = strconv.AppendInt(buf, int64(len(b)), 10)
	buf = append(buf, ':')
	return append(buf, b...)
}

// keyBytes is a key value's canonical bytes; false for a null.
func keyBytes(a arrow.Array, i int) ([]byte, bool) {
	if a.IsNull(i) {
		return nil, false
	}
	switch a := a.(type) {
	case *array.String:
		return []byte(a.Value(i)), true
	case *array.LargeString:
		return []byte(a.Value(i)), true
	case *array.Binary:
		return a.Value(i), true
	case *array.Int8:
		return strconv.AppendInt(nil, int64(a.Value(i)), 10), true
	case *array.Int16:
		return strconv.AppendInt(nil, int64(a.Value(i)), 10), true
	case *array.Int32:
		return strconv.AppendInt(nil, int64(a.Value(i)), 10), true
	case *array.Int64:
		return strconv.AppendInt(nil, a.Value(i), 10), true
	case *array.Uint8:
		return strconv.AppendUint(nil, uint64(a.Value(i)), 10), true
	case *array.Uint16:
		return strconv.AppendUint(nil, uint64(a.Value(i)), 10), true
	case *array.Uint32:
		return strconv.AppendUint(nil, uint64(a.Value(i)), 10), true
	case *array.Uint64:
		return strconv.AppendUint(nil, a.Value(i), 10), true
	case *array.Dictionary:
		return keyBytes(a.Dictionary(), a.GetValueIndex(i))
	}
	return nil, false
}

// checkKeyType says whether the canary can hash a key column of type t.
func checkKeyType(t arrow.DataType) bool {
	if d, ok := t.(*arrow.DictionaryType); ok {
		t = d.ValueType
	}
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// InCanary says whether a key with hash h is in a canary of this share:
// u = (h >> 11) / 2^53, exactly a float64 in [0, 1), and the key is in
// when u < share. A key in at one share is in at every larger one.
func InCanary(h uint64, share float64) bool {
	return unitOf(h) < share
}

// unitOf is a key hash as a float64 in [0, 1), exactly: (h >> 11) / 2^53.
func unitOf(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}

// rolloutLimit is the share of a canary's or an arm's rows that may fall
// back to the champion: the fallback's max_fallback_fraction, else its
// default.
func rolloutLimit(job *spec.Job) float64 {
	if job.Fallback != nil {
		return job.Fallback.Limit()
	}
	return spec.DefaultMaxFallbackFraction
}

// canary publishes the challenger's scores for the keys in its share.
// publish is called by the writing stage only; the counts are atomics
// all the same, read by the run's goroutine once it is over.
type canary struct {
	share float64
	salt  string
	keys  []string
	limit float64 // max share of canary rows falling back to the champion
	mem   memory.Allocator

	assigned, published, fellBack atomic.Int64
	rows                          atomic.Int64
	// off says why no row is in the challenger's arm (it did not load,
	// or cannot read the snapshot): recorded, the run goes on.
	off string
}

func newCanary(job *spec.Job, mem memory.Allocator) *canary {
	r := job.Challenger.Rollout
	return &canary{share: *r.Share, salt: r.Salt, keys: job.Output.Keys, mem: mem, limit: rolloutLimit(job)}
}

// assign marks each row of rec whose key hash is in the share.
func (c *canary) assign(rec arrow.Record) ([]bool, error) {
	cols, err := keyColumns(rec, c.keys)
	if err != nil {
		return nil, fmt.Errorf("challenger.rollout: %w", err)
	}
	in := make([]bool, rec.NumRows())
	for i := range in {
		if h, ok := KeyHash(c.salt, cols, i); ok && InCanary(h, c.share) {
			in[i] = true
		}
	}
	return in, nil
}

// Publish is called on each chunk once its side tables are written, and
// gives the arm each row publishes, as an index into Arms' lists (nil:
// no arm column). With arms the workers put each row's arm's score on it;
// Publish counts them. With a canary it puts the challenger's score (and
// label) on the canary rows; a canary row the challenger did not score
// keeps the champion's score, marked canary_fallback in score_source.
// Otherwise it returns s as is.
func (p *Plan) Publish(s scoring.Scored) (scoring.Scored, []int32, error) {
	if p.arms != nil {
		arms, err := p.arms.publish(s)
		return s, arms, err
	}
	c := p.canary
	if c == nil {
		return s, nil, nil
	}
	s, in, err := c.publish(s)
	if err != nil {
		return s, nil, err
	}
	arms := make([]int32, len(in))
	for i, v := range in {
		if v {
			arms[i] = 1
		}
	}
	return s, arms, nil
}

// publish is Publish for a canary: in marks the rows with the
// challenger's score.
func (c *canary) publish(s scoring.Scored) (scoring.Scored, []bool, error) {
	n := int(s.Record.NumRows())
	c.rows.Add(int64(n))
	if s.Source == nil { // score_source is published with a canary
		s.Source = constantStrings(c.mem, sourceModel, n)
	}
	in, err := c.assign(s.Record)
	if err != nil {
		return s, nil, err
	}
	arms := make([]bool, n)
	var assigned int64
	for _, v := range in {
		if v {
			assigned++
		}
	}
	c.assigned.Add(assigned)
	if assigned == 0 {
		return s, arms, nil
	}
	challengerOK := c.off == "" && s.Shadow != nil && (s.Label == nil) == (s.ShadowLabel == nil)
	if !challengerOK {
		return c.fallBack(s, in, arms)
	}
	champ, chall := s.Score.Float64Values(), s.Shadow.Float64Values()
	scores := array.NewFloat64Builder(c.mem)
	defer scores.Release()
	scores.Reserve(n)
	for i := range n {
		if in[i] {
			scores.UnsafeAppend(chall[i])
			arms[i] = true
		} else {
			scores.UnsafeAppend(champ[i])
		}
	}
	var label arrow.Array
	if s.Label != nil {
		if label, err = mergeLabels(c.mem, s.Label, s.ShadowLabel, in); err != nil {
			return c.fallBack(s, in, make([]bool, n))
		}
		s.Label.Release()
		s.Label = label
	}
	s.Score.Release()
	s.Score = scores.NewFloat64Array()
	c.published.Add(assigned)
	return s, arms, nil
}

// fallBack keeps the champion's scores on a chunk's canary rows.
func (c *canary) fallBack(s scoring.Scored, in, arms []bool) (scoring.Scored, []bool, error) {
	b := array.NewStringBuilder(c.mem)
	defer b.Release()
	var fell int64
	for i, v := range in {
		src := s.Source.Value(i)
		if v && src == sourceModel {
			src = sourceCanaryFallback
			fell++
		}
		b.Append(src)
	}
	s.Source.Release()
	s.Source = b.NewStringArray()
	if c.off == "" {
		c.fellBack.Add(fell)
	}
	return s, arms, nil
}

// mergeLabels takes the challenger's label on the canary rows.
func mergeLabels(mem memory.Allocator, champ, chall arrow.Array, in []bool) (arrow.Array, error) {
	if !arrow.TypeEqual(champ.DataType(), chall.DataType()) {
		return nil, fmt.Errorf("the challenger's label is %s, the champion's %s", chall.DataType(), champ.DataType())
	}
	pick := make([]int, len(in))
	for i, v := range in {
		if v {
			pick[i] = 1
		}
	}
	return pickLabels(mem, champ.DataType(), []arrow.Array{champ, chall}, pick)
}

// RolloutGate fails the run (ErrFallback, exit 3) when more of the
// canary's rows, or of an arm's, fell back to the champion than the job's
// max_fallback_fraction (the fallback's, else its default) allows.
func (p *Plan) RolloutGate() error {
	if p.arms != nil {
		return p.arms.gate()
	}
	c := p.canary
	if c == nil || c.off != "" {
		return nil
	}
	assigned, fell := c.assigned.Load(), c.fellBack.Load()
	if assigned == 0 || float64(fell)/float64(assigned) <= c.limit {
		return nil
	}
	return fmt.Errorf("%w: %d of the %d canary rows fell back to the champion (the challenger failed: %v), above max_fallback_fraction %g",
		ErrFallback, fell, assigned, p.challenger.failed(), c.limit)
}

// summary is the rollout's part of the challenger's manifest section.
func (c *canary) summary() *report.Rollout {
	r := &report.Rollout{Share: c.share, Salt: c.salt, Status: report.RolloutActive, Reason: c.off,
		Assigned: c.assigned.Load(), FellBack: c.fellBack.Load(), Limit: c.limit}
	r.Arms = map[string]int64{ArmChallenger: c.published.Load(), ArmChampion: c.rows.Load() - c.published.Load()}
	if c.off != "" {
		r.Status = report.RolloutOff
	}
	return r
}
