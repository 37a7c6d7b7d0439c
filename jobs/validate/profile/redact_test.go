package profile

import (
	"slices"
	"testing"
)

func TestRedact(t *testing.T) {
	p := &Profile{Version: FormatVersion, Rows: 4, Columns: []*Column{
		{Name: "email", Type: TypeString, Count: 4, Top: []Category{{"a@x", 1}, {"b@x", 1}, {"c@x", 1}, {"d@x", 1}}},
		{Name: "id", Type: TypeString, Count: 4, Top: []Category{{"1", 1}, {"2", 1}, {"3", 1}, {"4", 1}}},
		{Name: "plan", Type: TypeString, Count: 4, Top: []Category{{"basic", 2}, {"pro", 1}, {"plus", 1}}},
		{Name: "flag", Type: TypeBool, Count: 4, Top: []Category{{"true", 2}, {"false", 2}}},
	}}
	removed, singles := p.Redact([]string{"email", "not-there"})
	if !slices.Equal(removed, []string{"email"}) || !slices.Equal(singles, []string{"id", "plan"}) {
		t.Fatalf("removed %v, singletons %v", removed, singles)
	}
	if p.Column("email") != nil || len(p.Columns) != 3 {
		t.Errorf("columns after redact: %d, email %v", len(p.Columns), p.Column("email"))
	}
	if id := p.Column("id"); id.Top != nil || id.Other != 4 {
		t.Errorf("id: top %v other %d", id.Top, id.Other)
	}
	if plan := p.Column("plan"); len(plan.Top) != 1 || plan.Other != 2 {
		t.Errorf("plan: top %v other %d", plan.Top, plan.Other)
	}
	if flag := p.Column("flag"); len(flag.Top) != 2 || flag.Other != 0 {
		t.Errorf("flag: top %v other %d", flag.Top, flag.Other)
	}
}
