package profile

import "slices"

// Redact makes a profile fit to be kept as a baseline, which is read by
// more people than the data it describes. It removes the columns named in
// pii (personal data, as the job file's validation.columns declares them):
// every statistic of a column holds some of its values (the extremes are
// the histogram's outer edges, the sketch keeps samples), so none is kept;
// a job that needs one of them (a drift gate, an impute rule) then finds
// the column missing from its baseline and says so. In the other columns
// it drops the top values seen in only one row, a single row's value:
// a column unique per row (an id, an email) keeps no top values at all.
//
// It returns the columns it removed and those that lost top values.
func (p *Profile) Redact(pii []string) (removed, unique []string) {
	kept := p.Columns[:0]
	for _, c := range p.Columns {
		if slices.Contains(pii, c.Name) {
			removed = append(removed, c.Name)
			continue
		}
		kept = append(kept, c)
		if c.dropSingletons() {
			unique = append(unique, c.Name)
		}
	}
	clear(p.Columns[len(kept):])
	p.Columns = kept
	return removed, unique
}

// dropSingletons removes the top values seen once, counting them in
// Other; it reports whether there were any.
func (c *Column) dropSingletons() bool {
	top := c.Top[:0]
	var dropped int64
	for _, t := range c.Top {
		if t.Count <= 1 {
			dropped += t.Count
			continue
		}
		top = append(top, t)
	}
	if dropped == 0 {
		return false
	}
	c.Other += dropped
	c.Top = top
	if len(c.Top) == 0 {
		c.Top = nil
	}
	return true
}
