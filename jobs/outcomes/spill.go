package outcomes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultSpillRows is how many records of one side of the join stay in
// memory before the side spills to bucket files: the unique-key check's
// limit (validate.DefaultSpillKeys).
const DefaultSpillRows = 1 << 20

const bucketBits = 6
const bucketCount = 1 << bucketBits

// side holds one input of the join (the labels, the scores, the shadow
// scores) as fixed-width records whose first 8 bytes are the key hash.
// As jobs/validate's key set does, it keeps up to limit records in
// memory and past that partitions them by the hash's top bits into
// bucketCount files; equal keys always land in one bucket, so the join
// runs bucket by bucket and holds one bucket of each side at a time.
type side struct {
	width int
	limit int
	dir   string // parent of the spill folder
	name  string
	buf   []byte
	spill string
	files []*os.File
	n     int64
}

func newSide(dir, name string, width, limit int) *side {
	return &side{dir: dir, name: name, width: width, limit: max(limit, 1)}
}

// add appends one record.
func (s *side) add(rec []byte) error {
	s.buf = append(s.buf, rec...)
	s.n++
	if len(s.buf) >= s.limit*s.width {
		return s.flush()
	}
	return nil
}

func (s *side) spilled() bool { return s.spill != "" }

// flush appends the buffer, partitioned by bucket, to the bucket files.
func (s *side) flush() error {
	if s.spill == "" {
		dir, err := os.MkdirTemp(s.dir, "batchscore-outcomes-"+s.name+"-")
		if err != nil {
			return err
		}
		s.spill = dir
		s.files = make([]*os.File, bucketCount)
		for i := range s.files {
			f, err := os.CreateTemp(dir, fmt.Sprintf("bucket-%02d-", i))
			if err != nil {
				return err
			}
			s.files[i] = f
		}
	}
	if len(s.buf) == 0 {
		return nil
	}
	var start [bucketCount + 1]int
	for at := 0; at < len(s.buf); at += s.width {
		start[bucketOf(s.buf[at:])+1]++
	}
	for b := range bucketCount {
		start[b+1] += start[b]
	}
	next := start
	out := make([]byte, len(s.buf))
	for at := 0; at < len(s.buf); at += s.width {
		b := bucketOf(s.buf[at:])
		copy(out[next[b]*s.width:], s.buf[at:at+s.width])
		next[b]++
	}
	for b, f := range s.files {
		if _, err := f.Write(out[start[b]*s.width : start[b+1]*s.width]); err != nil {
			return fmt.Errorf("spilling the join: %w", err)
		}
	}
	s.buf = s.buf[:0]
	return nil
}

func bucketOf(rec []byte) int { return int(binary.LittleEndian.Uint64(rec) >> (64 - bucketBits)) }

// bucket reads bucket b's records into dst (spilled sides only).
func (s *side) bucket(b int, dst []byte) ([]byte, error) {
	f := s.files[b]
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if int64(cap(dst)) < size {
		dst = make([]byte, size)
	}
	dst = dst[:size]
	if _, err := io.ReadFull(f, dst); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return dst, nil
}

// close removes the spill files.
func (s *side) close() error {
	var errs []error
	for _, f := range s.files {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	s.files = nil
	if s.spill != "" {
		errs = append(errs, os.RemoveAll(s.spill))
		s.spill = ""
	}
	s.buf = nil
	return errors.Join(errs...)
}
