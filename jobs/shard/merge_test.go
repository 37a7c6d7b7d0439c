package shard

import "testing"

// The reference a disagreeing shard is named against: the value most
// shards have, shard 0's on a tie.
func TestMostCommon(t *testing.T) {
	for _, tc := range []struct {
		name      string
		values    []string
		want, who string
	}{
		{"all agree", []string{"a", "a", "a"}, "a", "shards 0, 1, 2 have"},
		{"one differs", []string{"a", "b", "a"}, "a", "shards 0, 2 have"},
		{"shard 0 differs", []string{"b", "a", "a"}, "a", "shards 1, 2 have"},
		{"tie goes to shard 0", []string{"b", "a", "a", "b"}, "b", "shards 0, 3 have"},
		{"all differ", []string{"x", "y"}, "x", "shard 0 has"},
	} {
		got, who := mostCommon(tc.values)
		if got != tc.want || who != tc.who {
			t.Errorf("%s: %q, %q; want %q, %q", tc.name, got, who, tc.want, tc.who)
		}
	}
}
