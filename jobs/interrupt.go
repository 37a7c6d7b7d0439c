package jobs

import (
	"context"
	"errors"
	"fmt"
)

// Interrupted is the cause of a cancellation by a signal: main cancels the
// command's context with it, so a run can say which signal stopped it
// rather than "context canceled". It is a context.Canceled for errors.Is,
// so every check for cancellation (and ExitCode's 130) still holds.
type Interrupted struct {
	Signal string // SIGINT or SIGTERM
	// Reason replaces the message when no signal of ours cancelled the
	// run: serve's grace period ran out, say.
	Reason string
}

func (e *Interrupted) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return "interrupted by " + e.Signal
}

// Is makes an Interrupted a context.Canceled.
func (e *Interrupted) Is(target error) bool { return target == context.Canceled }

// interruption says why err, a cancellation of ctx, happened: the signal
// when main recorded one, else "interrupted" with the context's error.
// Any other error is returned as it is.
func interruption(ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, context.Canceled) {
		return err
	}
	var sig *Interrupted
	if errors.As(err, &sig) {
		return err
	}
	cause := context.Cause(ctx)
	if errors.As(cause, &sig) {
		return sig
	}
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return &Interrupted{Reason: cause.Error()} // the daemon's grace period, say
	}
	return fmt.Errorf("interrupted: %w", err)
}

// interruptedBy names what interrupted ctx, for a date a backfill did not
// start: "interrupted by SIGTERM" or "interrupted".
func interruptedBy(ctx context.Context) string {
	var sig *Interrupted
	if errors.As(context.Cause(ctx), &sig) {
		return sig.Error()
	}
	return "interrupted"
}
