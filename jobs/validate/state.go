package validate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// SummaryState is what a Summary counted, written by a shard and merged
// into one Summary when the shards are committed. The unique keys' hashes
// travel in a file beside it.
type SummaryState struct {
	Rows     int64        `json:"rows"`
	Valid    int64        `json:"valid"`
	Rejected int64        `json:"rejected"`
	Imputed  int64        `json:"imputed"`
	Clipped  int64        `json:"clipped"`
	Rules    []RuleResult `json:"rules"`
	MaxDate  *time.Time   `json:"max_date,omitempty"`
	Keys     int64        `json:"keys"` // hashes in the keys file
	NullKeys int64        `json:"null_keys,omitempty"`
}

// State returns the counts and writes the unique keys' hashes (8 bytes
// each, little endian) to keysPath, when the rules have unique keys.
func (s *Summary) State(keysPath string) (SummaryState, error) {
	st := SummaryState{Rows: s.rows, Valid: s.valid, Rejected: s.reject, Imputed: s.imputed, Clipped: s.clipped,
		Rules: s.rules, MaxDate: s.maxDate, NullKeys: s.nullKey}
	if s.keys == nil {
		return st, nil
	}
	f, err := os.OpenFile(keysPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return st, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	n, err := s.keys.export(w)
	st.Keys = n
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	return st, errors.Join(err, f.Close())
}

// Merge adds a shard's state: counts, samples up to the engine's limit,
// the newest date and the keys from keysPath. Merge shards in their order
// so that the samples are those a single run would keep.
func (s *Summary) Merge(st SummaryState, keysPath string) error {
	if len(st.Rules) != len(s.rules) {
		return fmt.Errorf("a shard checked %d rules, the job file has %d", len(st.Rules), len(s.rules))
	}
	stats := ChunkStats{Rows: st.Rows, Valid: st.Valid, Rejected: st.Rejected, Imputed: st.Imputed, Clipped: st.Clipped, MaxDate: st.MaxDate, NullKeys: st.NullKeys}
	for i, r := range st.Rules {
		if r.Name != s.rules[i].Name {
			return fmt.Errorf("a shard's rule %d is %s, the job file's %s", i, r.Name, s.rules[i].Name)
		}
		stats.Rules = append(stats.Rules, RuleStats{Failed: r.Failed, Samples: r.Samples})
	}
	if err := s.Add(stats); err != nil {
		return err
	}
	if s.keys == nil {
		return nil
	}
	return s.keys.importFrom(keysPath, st.Keys)
}

// export writes every hash kept so far.
func (k *keySet) export(w io.Writer) (int64, error) {
	if k.spill != nil { // else everything is in buf
		if err := k.flush(); err != nil {
			return 0, err
		}
	}
	n, err := k.copySpill(w)
	if err != nil {
		return n, err
	}
	var word [8]byte
	for _, h := range k.buf {
		binary.LittleEndian.PutUint64(word[:], h)
		if _, err := w.Write(word[:]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// importFrom adds the want hashes of a file export wrote.
func (k *keySet) importFrom(path string, want int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("a shard's keys: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	block := make([]uint64, 0, 1<<13)
	var word [8]byte
	var n int64
	for {
		_, err := io.ReadFull(r, word[:])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("a shard's keys: %s: %w", path, err)
		}
		block = append(block, binary.LittleEndian.Uint64(word[:]))
		n++
		if len(block) == cap(block) {
			if err := k.add(block); err != nil {
				return err
			}
			block = block[:0]
		}
	}
	if n != want {
		return fmt.Errorf("a shard's keys: %s holds %d keys, its state says %d", path, n, want)
	}
	return k.add(block)
}
