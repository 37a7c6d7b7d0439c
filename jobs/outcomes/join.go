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
}

// join matches the sides bucket by bucket (or all at once when nothing
// spilled) and returns the matched rows.
func join(labels, scores, shadow *side, nLabelSeg, nScoreSeg int) (*joined, error) {
	j := &joined{dupLabel: -1, dupScore: -1, seg: make([][]uint32, nLabelSeg+nScoreSeg)}
	sides := []*side{labels, scores}
	if shadow != nil {
		sides = append(sides, shadow)
	}
	any := false
	for _, s := range sides {
		any = any || s.spilled()
	}
	if !any {
		var sh []byte
		if shadow != nil {
			sh = shadow.buf
		}
		j.group(labels.buf, scores.buf, sh, labels.width, scores.width, nLabelSeg, nScoreSeg)
		return j, nil
	}
	for _, s := range sides {
		if err := s.flush(); err != nil {
			return nil, err
		}
	}
	var lb, sb, hb []byte
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
		j.group(lb, sb, hb, labels.width, scores.width, nLabelSeg, nScoreSeg)
	}
	return j, nil
}

// group joins one bucket of each side.
func (j *joined) group(lb, sb, hb []byte, lw, sw, nLabelSeg, nScoreSeg int) {
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
	}
	matchedOf := make([]int32, nl)
	for i := range matchedOf {
		matchedOf[i] = -1
	}
	for at := 0; at+sw <= len(sb); at += sw {
		rec := sb[at:]
		i, ok := idx[binary.LittleEndian.Uint64(rec)]
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
