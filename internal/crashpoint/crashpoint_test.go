package crashpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, env, point string
		n                int64
	}{
		{"unset", "", "", 1},
		{"name", "staged", "staged", 1},
		{"nth", "staged-chunk:3", "staged-chunk", 3},
		{"spaces", " manifest ", "manifest", 1},
		{"zero disarms", "staged-chunk:0", "", 1},
		{"not a number disarms", "staged-chunk:x", "", 1},
		{"no name disarms", ":2", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			point, n := parse(tc.env)
			if point != tc.point || n != tc.n {
				t.Errorf("parse(%q) = %q, %d; want %q, %d", tc.env, point, n, tc.point, tc.n)
			}
		})
	}
}

// TestHelperProcess is the process TestHitKills kills: it counts its hits
// on stdout so the parent sees how far it got.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("CRASHPOINT_HELPER") != "1" {
		t.Skip("run by TestHitKills")
	}
	for i := 1; i <= 5; i++ {
		Hit("other")
		os.Stdout.WriteString("a")
		Hit("here")
	}
	os.Stdout.WriteString("done")
}

func TestHitKills(t *testing.T) {
	tests := []struct {
		name, env, out string
		killed         bool
	}{
		{"disarmed", "", "aaaaadone", false},
		{"another point", "elsewhere", "aaaaadone", false},
		{"first hit", "here", "a", true},
		{"third hit", "here:3", "aaa", true},
		{"never reached", "here:6", "aaaaadone", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), "CRASHPOINT_HELPER=1", Env+"="+tc.env)
			out, err := cmd.Output()
			got := string(out)
			if i := len(got) - len("PASS\n"); i >= 0 && got[i:] == "PASS\n" {
				got = got[:i]
			}
			var killed bool
			if ee, ok := err.(*exec.ExitError); ok {
				ws, _ := ee.Sys().(syscall.WaitStatus)
				killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
				if !killed {
					t.Fatalf("helper failed: %v\n%s", err, out)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if killed != tc.killed || got != tc.out {
				t.Errorf("%s=%q: killed %v, printed %q; want killed %v, %q", Env, tc.env, killed, got, tc.killed, tc.out)
			}
		})
	}
}

func BenchmarkHitDisarmed(b *testing.B) {
	for range b.N {
		Hit("staged-chunk")
	}
}
