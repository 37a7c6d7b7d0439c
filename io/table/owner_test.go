package table

import (
	"errors"
	"sync"
	"testing"
)

// Of several first runs racing for a table, one records its job and the
// others are refused or find themselves the owner; reown hands it over and
// keeps the old name.
func testOwn(t *testing.T, k kind) {
	tb := k.open(t)
	if o, err := tb.Owner(); o != nil || err != nil {
		t.Fatalf("fresh table owner %v (%v)", o, err)
	}
	if err := tb.CheckOwner("a", "a.yaml"); err != nil {
		t.Fatalf("check on a fresh table: %v", err)
	}
	jobs := []string{"a", "b", "a", "b", "a", "b"}
	errs := make([]error, len(jobs))
	claims := make([]Claim, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			claims[i], errs[i] = tb.Own(j, j+".yaml", false)
		}()
	}
	wg.Wait()
	o, err := tb.Owner()
	if err != nil || o == nil {
		t.Fatalf("no owner after the race (%v)", err)
	}
	recorded := 0
	for i, j := range jobs {
		switch {
		case j == o.Job && errs[i] != nil:
			t.Errorf("the owner %s was refused: %v", j, errs[i])
		case j != o.Job && !errors.Is(errs[i], ErrOwner):
			t.Errorf("job %s of a table %s owns: %v", j, o.Job, errs[i])
		}
		if claims[i].Claimed {
			recorded++
		}
	}
	if recorded != 1 {
		t.Errorf("%d runs recorded themselves as owner, want 1", recorded)
	}
	other := map[string]string{"a": "b", "b": "a"}[o.Job]
	if err := tb.CheckOwner(other, other+".yaml"); !errors.Is(err, ErrOwner) {
		t.Errorf("check of the other job: %v", err)
	}
	c, err := tb.Own(other, other+".yaml", true)
	if err != nil || c.Reowned != o.Job {
		t.Fatalf("reown: %+v %v", c, err)
	}
	now, _ := tb.Owner()
	if now.Job != other || len(now.Previous) != 1 || now.Previous[0] != o.Job {
		t.Errorf("after reown %+v", now)
	}
	// Back again: a name is listed once, and not as its own predecessor.
	if _, err := tb.Own(o.Job, "x.yaml", true); err != nil {
		t.Fatal(err)
	}
	if back, _ := tb.Owner(); back.Job != o.Job || len(back.Previous) != 1 || back.Previous[0] != other {
		t.Errorf("after reowning back %+v", back)
	}
}

// An owner record that does not parse is ErrOwnerRecord (exit 2: a person
// mends it), not a plain error a scheduler would retry.
//
// The record is spoiled where readers find it (the folder, the bucket)
// and the table opened again, as the next run would.
func testOwnerRecordUnreadable(t *testing.T, k kind) {
	root := k.root(t)
	first := openRoot(t, root)
	if _, err := first.Own("a", "a.yaml", false); err != nil {
		t.Fatal(err)
	}
	first.Close()
	k.reader(t, root).put(ownerFile, []byte("{not json"))
	tb := openRoot(t, root)
	for name, err := range map[string]error{"check": tb.CheckOwner("a", "a.yaml"), "own": func() error { _, err := tb.Own("a", "a.yaml", false); return err }()} {
		if !errors.Is(err, ErrOwnerRecord) {
			t.Errorf("%s: %v, want ErrOwnerRecord", name, err)
		}
	}
}
