package jobs

import (
	"context"
	"errors"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/outcomes"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
	"github.com/batchscore/batchscore/scoring/registry"
)

// Exit codes, as documented in the README.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitDataQuality = 3
	ExitLocked      = 4
	ExitInterrupted = 130
)

var (
	// ErrUsage marks a command line that cannot run.
	ErrUsage = errors.New("usage")
	// ErrEmpty marks a snapshot with no rows: publishing an empty version
	// would silently replace yesterday's scores with nothing.
	ErrEmpty = errors.New("empty snapshot")
	// ErrBooks marks a run whose row counts do not balance.
	ErrBooks = errors.New("row counts do not balance")
)

// CodeError is an error that carries its exit code, for outcomes no single
// sentinel describes (a backfill's mixed results).
type CodeError struct {
	Code int
	Err  error
}

func (e *CodeError) Error() string { return e.Err.Error() }
func (e *CodeError) Unwrap() error { return e.Err }

// ExitCode maps an error to the process exit code. It is the one place
// where that mapping lives; the CLI and the manifest both use it.
func ExitCode(err error) int {
	var coded *CodeError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &coded):
		return coded.Code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, ErrLocked), errors.Is(err, table.ErrConcurrent):
		return ExitLocked
	case errors.Is(err, ErrUsage), errors.Is(err, spec.ErrInvalid), errors.Is(err, table.ErrOwner), errors.Is(err, table.ErrOwnerRecord), errors.Is(err, sqlio.ErrOwner),
		errors.Is(err, scoring.ErrSignature), errors.Is(err, onnx.ErrNoModel), errors.Is(err, onnx.ErrNotNative),
		errors.Is(err, sqlio.ErrDSN), errors.Is(err, sqlio.ErrType), errors.Is(err, sqlio.ErrRejected),
		errors.Is(err, registry.ErrMismatch), errors.Is(err, registry.ErrNotFound), errors.Is(err, registry.ErrInvalid),
		errors.Is(err, outcomes.ErrNotScored):
		return ExitUsage
	case errors.Is(err, scoring.ErrBadInput), errors.Is(err, parquetio.ErrSchema),
		errors.Is(err, ErrEmpty), errors.Is(err, validate.ErrSchema),
		errors.Is(err, validate.ErrFailRule), errors.Is(err, validate.ErrGate),
		errors.Is(err, route.ErrFallback), errors.Is(err, sqlio.ErrDataException),
		errors.Is(err, outcomes.ErrData):
		return ExitDataQuality
	}
	return ExitFailure
}
