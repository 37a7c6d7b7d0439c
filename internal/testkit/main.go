// Package testkit holds what the throwaway-server harnesses below it
// (pgtest, mariadbtest, miniotest) share.
package testkit

import (
	"fmt"
	"os"
)

// RunThenStop runs the tests, then stop. A failing stop is printed after
// what and turns a passing run's exit code into 1: a server that will not
// stop is a leak the tests must not hide.
func RunThenStop(m interface{ Run() int }, what string, stop func() error) int {
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
