#!/bin/sh
# groups.sh BIN N K [ALONE]: the end-to-end tests of the test binary BIN
# split into N groups of about equal time (testdata/e2e/seconds.txt,
# longest first into the group with the least so far), printed as the
# names of group K (1..N) joined by '|', for -test.run='^(…)$'. The tests
# named in ALONE ('|'-separated) are left out: they run in a process of
# their own. Every other test is in exactly one group, new ones included.
set -eu
bin=$1 n=$2 k=$3 alone=${4:-}
here=$(dirname "$0")
"$bin" -test.list '.*' | grep '^Test' | awk -v n="$n" -v k="$k" -v alone="$alone" '
	NR == FNR { if ($0 !~ /^#/ && NF == 2) secs[$1] = $2; next }
	{
		split(alone, a, "|"); for (i in a) if ($1 == a[i]) next
		t[++m] = $1; w[m] = ($1 in secs) ? secs[$1] : 5
	}
	END {
		# Longest first; ties by name, so that every process agrees.
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
			if (w[j] > w[i] || (w[j] == w[i] && t[j] < t[i])) { x = t[i]; t[i] = t[j]; t[j] = x; x = w[i]; w[i] = w[j]; w[j] = x }
		for (i = 1; i <= m; i++) {
			g = 1; for (j = 2; j <= n; j++) if (load[j] < load[g]) g = j
			load[g] += w[i]
			if (g == k) out = out (out == "" ? "" : "|") t[i]
		}
		if (out == "") { print "groups.sh: group " k " of " n " is empty" > "/dev/stderr"; exit 1 }
		print out
	}' "$here/seconds.txt" -
