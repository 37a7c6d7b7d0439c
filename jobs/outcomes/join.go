package outcomes

import (
	"encoding/binary"
	"math"
)

// Record layouts (little endian):
//
//	label:  hash u64 | ordinal u64 | label u8 | label-side segment ids u32…
//	score:  hash u64 | score f64 | result-side segment ids u32…
//	shadow: hash u64 | challenger score f64
//	snapshot: hash u64 | snapshot-side segment ids u32…
const (
	labelFixed = 17
	scoreFixed = 16
)

// joined is what the join keeps of each matched row: its scores, its
// label and its segment ids (label-side columns first, as segCols).
type joined struct {
	score, chall []float64 // chall: NaN where the shadow has no row
	label        []bool
	seg          [][]uint32
	// dupLabel is the ordinal of the first label row whose key an earlier
	// label row has (-1: none); dupScore the ordinal of a label row whose
	// key the version holds twice (-1: none).
	dupLabel, dupScore int64
	challMatched       int64
	// snapScored and snapLabelled count, per snapshot-side segment column
	// and value id, the scored rows and the label rows whose key the
	// snapshot has with that value.
	snapScored, snapLabelled [][]int64
}

// noSnapshot is the segment id of a matched row whose key the snapshot
// does not have (any more).
const noSnapshot = ^uint32(0)

// shape is how many segment columns each side carries, and how many
// values each snapshot-side column has.
type shape struct {
	label, score int
	snapValues   []int
}

// join matches the sides bucket by bucket (or all at once when nothing
// spilled) and returns the matched rows.
func join(labels, scores, shadow, snapshot *side, sh shape) (*joined, error) {
	j := &joined{dupLabel: -1, dupScore: -1, seg: make([][]uint32, sh.label+sh.score+len(sh.snapValues))}
	for _, n := range sh.snapValues {
		j.snapScored = append(j.snapScored, make([]int64, n))
		j.snapLabelled = append(j.snapLabelled, make([]int64, n))
	}
	sides := []*side{labels, scores}
	for _, s := range []*side{shadow, snapshot} {
		if s != nil {
			sides = append(sides, s)
		}
	}
	spilled := false
	for _, s := range sides {
		spilled = spilled || s.spilled()
	}
	if !spilled {
		var hb, pb []byte
		if shadow != nil {
			hb = shadow.buf
		}
		if snapshot != nil {
			pb = snapshot.buf
		}
		j.group(labels.buf, scores.buf, hb, pb, labels.width, scores.width, sh)
		return j, nil
	}
	for _, s := range sides {
		if err := s.flush(); err != nil {
			return nil, err
		}
	}
	var lb, sb, hb, pb []byte
	for b := range bucketCount {
		var err error
		if lb, err = labels.bucket(b, lb); err != nil {
			return nil, err
		}
		if sb, err = scores.bucket(b, sb); err != nil {
			return nil, err
		}
		hb = hb[:0]
		if shadow != nil {
			if hb, err = shadow.bucket(b, hb); err != nil {
				return nil, err
			}
		}
		pb = pb[:0]
		if snapshot != nil {
			if pb, err = snapshot.bucket(b, pb); err != nil {
				return nil, err
			}
		}
		j.group(lb, sb, hb, pb, labels.width, scores.width, sh)
	}
	return j, nil
}

// group joins one bucket of each side.
func (j *joined) group(lb, sb, hb, pb []byte, lw, sw int, sh shape) {
	nLabelSeg, nScoreSeg, nSnap := sh.label, sh.score, len(sh.snapValues)
	pw := 8 + 4*nSnap
	var snap map[uint64]int32 // the snapshot's rows by key; the first of a repeated key
	if nSnap > 0 {
		snap = make(map[uint64]int32, len(pb)/pw)
		for i := len(pb)/pw - 1; i >= 0; i-- {
			snap[binary.LittleEndian.Uint64(pb[i*pw:])] = int32(i)
		}
	}
	// snapIDs is the snapshot-side segment id k of a key's row.
	snapIDs := func(h uint64, k int) uint32 {
		p, ok := snap[h]
		if !ok {
			return noSnapshot
		}
		return binary.LittleEndian.Uint32(pb[int(p)*pw+8+4*k:])
	}
	nl := len(lb) / lw
	idx := make(map[uint64]int32, nl)
	for i := range nl {
		rec := lb[i*lw:]
		h := binary.LittleEndian.Uint64(rec)
		if _, dup := idx[h]; dup {
			if ord := int64(binary.LittleEndian.Uint64(rec[8:])); j.dupLabel < 0 || ord < j.dupLabel {
				j.dupLabel = ord
			}
			continue
		}
		idx[h] = int32(i)
		for k := range nSnap {
			if id := snapIDs(h, k); id != noSnapshot {
				j.snapLabelled[k][id]++
			}
		}
	}
	matchedOf := make([]int32, nl)
	for i := range matchedOf {
		matchedOf[i] = -1
	}
	for at := 0; at+sw <= len(sb); at += sw {
		rec := sb[at:]
		h := binary.LittleEndian.Uint64(rec)
		for k := range nSnap {
			if id := snapIDs(h, k); id != noSnapshot {
				j.snapScored[k][id]++
			}
		}
		i, ok := idx[h]
		if !ok {
			continue
		}
		score := math.Float64frombits(binary.LittleEndian.Uint64(rec[8:]))
		lrec := lb[int(i)*lw:]
		if matchedOf[i] >= 0 {
			if ord := int64(binary.LittleEndian.Uint64(lrec[8:])); j.dupScore < 0 || ord < j.dupScore {
				j.dupScore = ord
			}
			continue
		}
		matchedOf[i] = int32(len(j.score))
		j.score = append(j.score, score)
		j.chall = append(j.chall, math.NaN())
		j.label = append(j.label, lrec[16] == 1)
		for k := range nLabelSeg {
			j.seg[k] = append(j.seg[k], binary.LittleEndian.Uint32(lrec[labelFixed+4*k:]))
		}
		for k := range nScoreSeg {
			j.seg[nLabelSeg+k] = append(j.seg[nLabelSeg+k], binary.LittleEndian.Uint32(rec[scoreFixed+4*k:]))
		}
		for k := range nSnap {
			j.seg[nLabelSeg+nScoreSeg+k] = append(j.seg[nLabelSeg+nScoreSeg+k], snapIDs(h, k))
		}
	}
	for at := 0; at+scoreFixed <= len(hb); at += scoreFixed {
		rec := hb[at:]
		i, ok := idx[binary.LittleEndian.Uint64(rec)]
		if !ok || matchedOf[i] < 0 {
			continue
		}
		m := matchedOf[i]
		if math.IsNaN(j.chall[m]) {
			j.challMatched++
		}
		j.chall[m] = math.Float64frombits(binary.LittleEndian.Uint64(rec[8:]))
	}
}
