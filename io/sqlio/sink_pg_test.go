package sqlio

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// TestPublishReadersSeeNoMix publishes versions of different sizes while
// readers query the view: every answer is one whole version.
func TestPublishReadersSeeNoMix(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const date = "2026-11-20"
	s, err := OpenSink(ctx, SinkConfig{Driver: "postgres", DSN: dsn, Table: "churn_scores", Keep: 2}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sizes := map[string]int64{}
	var mu sync.Mutex
	publish := func(i int) {
		v := fmt.Sprintf("v%02d", i)
		n := 20000 + 7919*i
		mu.Lock()
		sizes[v] = int64(n)
		mu.Unlock()
		l, err := s.Begin(ctx, v, date)
		if err != nil {
			t.Fatal(err)
		}
		for first := 0; first < n; first += 8192 {
			rec := resultRecord(t, first, min(8192, n-first), date, v)
			err := l.Write(ctx, rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Publish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	publish(0)
	known := func(v string) (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		n, ok := sizes[v]
		return n, ok
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int64
				var lo, hi string
				if err := conn.QueryRow(ctx, "SELECT count(*), min(version), max(version) FROM churn_scores_current WHERE score_date = $1", date).Scan(&n, &lo, &hi); err != nil {
					errs <- err
					return
				}
				reads.Add(1)
				want, ok := known(lo)
				if lo != hi || !ok || n != want {
					errs <- fmt.Errorf("reader saw %d rows of versions %s..%s (want one version, %d rows)", n, lo, hi, want)
					return
				}
			}
		}()
	}
	for i := 1; i <= 8; i++ {
		publish(i) // records the size before the version can be seen
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() < 20 {
		t.Errorf("only %d reads", reads.Load())
	}
	t.Logf("%d reads during 8 publishes", reads.Load())
}
