package onnx

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/batchscore/batchscore/scoring"
)

// DefaultCacheModels is how many opened models a Cache keeps while no
// run uses them.
const DefaultCacheModels = 4

// Cache keeps what loading a model costs (ONNX Runtime's reading of the
// signature, the rewrites, the compiled native engine, its probe against
// ONNX Runtime and the ONNX Runtime sessions) for the later runs of one
// process: the dates of a backfill, the runs of a daemon.
//
// Contract: an entry is keyed by the sha256 of the model's bytes, the
// binding and the options, so a model file that changed is opened afresh
// and never scored with a stale session; the file is still read and
// hashed by every run (Load). What depends on the data is never reused:
// each session Open returns checks its first chunk and samples every
// chunk against ONNX Runtime as a fresh one does, and a switch to ONNX
// Runtime in one run does not carry into the next. Open and Inspect are
// safe for concurrent use. At most max entries no run holds stay open
// (least recently used first out); an idle entry of a file that now holds
// other bytes is closed when they are opened.
// A nil *Cache caches nothing.
type Cache struct {
	mu      sync.Mutex
	max     int
	tick    int64
	entries map[string]*cacheEntry
	inspect map[string]inspected
}

type cacheEntry struct {
	path  string
	sha   string
	ready chan struct{} // closed once sess or err is set
	sess  *Session
	err   error
	users int
	used  int64 // c.tick at its last release
}

type inspected struct {
	sig scoring.Signature
	md  Metadata
}

// NewCache makes a cache that keeps up to max idle models open.
func NewCache(max int) *Cache {
	return &Cache{max: max, entries: map[string]*cacheEntry{}, inspect: map[string]inspected{}}
}

// Inspect is m.Inspect, once per model content.
func (c *Cache) Inspect(m *Model) (scoring.Signature, Metadata, error) {
	if c == nil {
		return m.Inspect()
	}
	c.mu.Lock()
	got, ok := c.inspect[m.SHA256]
	c.mu.Unlock()
	if ok {
		return got.sig, got.md, nil
	}
	sig, md, err := m.Inspect()
	if err != nil {
		return sig, md, err
	}
	c.mu.Lock()
	if len(c.inspect) >= 4*max(c.max, 1) {
		clear(c.inspect) // bounded; a miss only costs a read of the signature
	}
	c.inspect[m.SHA256] = inspected{sig, md}
	c.mu.Unlock()
	return sig, md, nil
}

// Open is m.Open, reusing a session of the same model bytes, binding and
// options. The caller closes the session it gets, which gives it back to
// the cache.
func (c *Cache) Open(m *Model, b *scoring.Binding, opts Options) (*Session, error) {
	if c == nil {
		return m.Open(b, opts)
	}
	key, err := cacheKey(m, b, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		c.dropStale(m)
		e = &cacheEntry{path: m.Path, sha: m.SHA256, ready: make(chan struct{})}
		c.entries[key] = e
	}
	e.users++
	c.mu.Unlock()
	if !ok {
		e.sess, e.err = m.Open(b, opts)
		close(e.ready)
	}
	<-e.ready
	if e.err != nil {
		c.mu.Lock()
		e.users--
		if c.entries[key] == e {
			delete(c.entries, key) // a failure is not kept: the next run tries again
		}
		c.mu.Unlock()
		return nil, e.err
	}
	return e.sess.share(func() { c.release(e) }), nil
}

// release is a run giving its session back.
func (c *Cache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.users--
	c.tick++
	e.used = c.tick
	c.trim()
}

// dropStale closes the idle entries opened from m's path when the file
// held other bytes: they will not be asked for again. c.mu is held.
func (c *Cache) dropStale(m *Model) {
	for k, e := range c.entries {
		if e.path == m.Path && e.sha != m.SHA256 && e.users == 0 {
			delete(c.entries, k)
			e.sess.Close()
		}
	}
}

// trim closes the least recently used idle entries beyond c.max. c.mu
// is held.
func (c *Cache) trim() {
	for {
		idle, oldest := 0, ""
		for k, e := range c.entries {
			if e.users > 0 {
				continue
			}
			idle++
			if oldest == "" || e.used < c.entries[oldest].used {
				oldest = k
			}
		}
		if idle <= c.max {
			return
		}
		e := c.entries[oldest]
		delete(c.entries, oldest)
		e.sess.Close()
	}
}

// Close closes every session no run holds; sessions still held are
// closed by nothing, so call it once the runs are over.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.users == 0 {
			delete(c.entries, k)
			e.sess.Close()
		}
	}
	clear(c.inspect)
}

// Len is the number of models open in the cache.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// cacheKey names what a session depends on: the model's bytes (by their
// sha256), the binding and every option.
func cacheKey(m *Model, b *scoring.Binding, opts Options) (string, error) {
	bj, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("session cache: %w", err)
	}
	return fmt.Sprintf("%s\x00%s\x00%+v", m.SHA256, bj, opts), nil
}
