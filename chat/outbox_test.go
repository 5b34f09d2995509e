package chat

import "testing"

// TestOutbox pushes bursts around the recycled array's size through a queue
// and takes them, as a writer does: nothing is lost or reordered, the
// limit holds except for the close, and a writer starts once per drain.
func TestOutbox(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		bursts []int // items pushed before each take
		final  bool  // push the close into the full queue at the end
	}{
		{"one frame at a time", 100, []int{1, 1, 1}, false},
		{"an opening", 100, []int{4}, false},
		{"the array's size", 100, []int{8, 8}, false},
		{"past the array", 100, []int{9, 30, 3}, false},
		{"full, then the close", 5, []int{5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(tc.limit)
			next, got := int64(0), int64(0)
			for b, n := range tc.bursts {
				for i := range n {
					ok, start := o.push(item{p: packet{seq: next}}, false)
					if !ok {
						t.Fatalf("burst %d: push %d refused under the limit", b, i)
					}
					if start != (i == 0) {
						t.Fatalf("burst %d: push %d start = %v", b, i, start)
					}
					next++
				}
				if tc.final {
					if ok, _ := o.push(item{p: packet{seq: next}}, false); ok {
						t.Fatal("a full queue took a frame")
					}
					if ok, _ := o.push(item{final: true}, true); !ok {
						t.Fatal("a full queue refused the close")
					}
				}
				batch := o.take()
				for i := range batch {
					if batch[i].final {
						continue
					}
					if batch[i].p.seq != got {
						t.Fatalf("burst %d: item %d is seq %d, want %d", b, i, batch[i].p.seq, got)
					}
					got++
					batch[i] = item{}
				}
				recycle(batch)
				if rest := o.take(); len(rest) != 0 {
					t.Fatalf("burst %d: %d left after a take", b, len(rest))
				}
			}
			if got != next {
				t.Errorf("took %d, pushed %d", got, next)
			}
		})
	}
}
