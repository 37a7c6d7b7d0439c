package sqlio

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	code := mariadbtest.Main(mariadbtest.Runner(func() int { return pgtest.Main(m) }))
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// envDSN puts dsn in a fresh environment variable and returns its name.
func envDSN(t *testing.T, dsn string) string {
	t.Helper()
	name := fmt.Sprintf("SQLIO_TEST_DSN_%d", time.Now().UnixNano())
	t.Setenv(name, dsn)
	return name
}

// result is what a test read: rows as ValueStr text, the batch sizes, the
// schema and the fingerprint.
type result struct {
	schema      *arrow.Schema
	rows        [][]string
	batches     []int64
	fingerprint string
}

// readQuery opens and reads a query, checking that every Arrow buffer is
// released.
func readQuery(t *testing.T, cfg Config, params map[string]any, batch int, opts ...Option) (result, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	src, err := Open(ctx, cfg, params, opts...)
	if err != nil {
		return result{}, err
	}
	defer func() {
		if err := src.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	res := result{schema: src.Schema()}
	err = src.Read(ctx, nil, batch, mem, func(rec arrow.Record, where string, offset int64) error {
		defer rec.Release()
		if want := int64(len(res.rows)); offset != want {
			t.Errorf("%s: batch at offset %d, want %d", where, offset, want)
		}
		res.batches = append(res.batches, rec.NumRows())
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = rec.Column(c).ValueStr(r)
			}
			res.rows = append(res.rows, row)
		}
		return nil
	})
	res.fingerprint, _ = src.Fingerprint(ctx)
	if err == nil && src.RowsRead() != int64(len(res.rows)) {
		t.Errorf("RowsRead() = %d, read %d", src.RowsRead(), len(res.rows))
	}
	return res, err
}

func slogTo(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}
