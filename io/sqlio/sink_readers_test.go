package sqlio

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testReadersSeeNoMix publishes versions of different sizes while readers
// query the view: every answer is one whole version.
func (su sinkSuite) testReadersSeeNoMix(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	const date = suiteDate
	// PostgreSQL's COPY loads big versions quickly; MariaDB gets smaller
	// ones, still many chunks each.
	base, step, pause, readers := 20000, 7919, time.Duration(0), 4
	switch su.be.driver {
	case "mysql":
		base, step = 3000, 797
	case "sqlite":
		// A reader's shared lock holds off the writer's commit, whose busy
		// handler sleeps up to 100 ms between tries: one reader, pausing
		// longer than that, so that publishing goes on; one chunk a version,
		// as the driver's C code runs many times slower under -race.
		base, step, pause, readers = 200, 37, 120*time.Millisecond, 1
	}
	s, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "churn_scores", Keep: 2}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sizes := map[string]int64{}
	var mu sync.Mutex
	publish := func(i int) {
		v := fmt.Sprintf("v%02d", i)
		n := base + step*i
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
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read, done, err := openViewReader(ctx, su.be.driver, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, lo, hi, err := read(ctx, date)
				if err != nil {
					errs <- err
					return
				}
				reads.Add(1)
				time.Sleep(pause)
				want, ok := known(lo)
				if lo != hi || !ok || n != want {
					errs <- fmt.Errorf("reader saw %d rows of versions %s..%s (want one version, %d rows)", n, lo, hi, want)
					return
				}
			}
		}()
	}
	// At least 8 publishes, and more until the readers have read 20 times.
	for i := 1; i <= 8 || (reads.Load() < 20 && i < 100); i++ {
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
	t.Logf("%d reads during %d publishes", reads.Load(), len(sizes)-1)
}

// openViewReader connects a reader of the view: read returns count,
// min(version) and max(version) of a date's rows. A reader of its own
// connection, never the test's t: it runs on another goroutine.
func openViewReader(ctx context.Context, driver, dsn string) (read func(ctx context.Context, date string) (int64, string, string, error), done func(), err error) {
	const q = "SELECT count(*), min(version), max(version) FROM churn_scores_current WHERE score_date = "
	if driver == "postgres" {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, date string) (n int64, lo, hi string, err error) {
			err = conn.QueryRow(ctx, q+"$1", date).Scan(&n, &lo, &hi)
			return n, lo, hi, err
		}, func() { conn.Close(context.Background()) }, nil
	}
	if driver == "sqlite" {
		dsn = sqliteDSN(dsn) // wait out the writer's lock
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	return func(ctx context.Context, date string) (n int64, lo, hi string, err error) {
		err = db.QueryRowContext(ctx, q+"?", date).Scan(&n, &lo, &hi)
		return n, lo, hi, err
	}, func() { db.Close() }, nil
}
