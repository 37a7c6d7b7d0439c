package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestSetGCPercent: GOGC=50 unless the environment sets GOGC.
func TestSetGCPercent(t *testing.T) {
	t.Setenv("GOGC", "") // restores the variable afterwards
	os.Unsetenv("GOGC")
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	setGCPercent()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("GOGC unset: GC percent %d, want 50", got)
	}
	t.Setenv("GOGC", "200")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC percent changed to %d", got)
	}
}
