package schedule

import "time"

// Clock is the daemon's source of time. The real one is the wall clock;
// tests inject a fake one so that no test waits for real minutes.
//
// After must behave like time.After: the channel receives one value once
// d has passed (immediately when d <= 0) and is never closed. The daemon
// may abandon a channel without reading it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After returns time.After(d). Unread timers are collected by the runtime.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
