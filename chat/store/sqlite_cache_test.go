package store

import (
	"fmt"
	"testing"
)

// TestClientIDs fills sets past the slice into the map: every pair added is
// found, no other pair is, whatever the size.
func TestClientIDs(t *testing.T) {
	for _, n := range []int{0, 1, clientIDsInSlice - 1, clientIDsInSlice, clientIDsInSlice + 1, 5 * clientIDsInSlice} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var s clientIDs
			for i := range n {
				s.add(clientKey("v1", fmt.Sprint("m", i)))
			}
			if inMap := s.many != nil; inMap != (n > clientIDsInSlice) {
				t.Errorf("%d ids: in a map = %v", n, inMap)
			}
			for i := range n {
				if !s.has(clientKey("v1", fmt.Sprint("m", i))) {
					t.Fatalf("m%d not found among %d", i, n)
				}
			}
			for _, miss := range [][2]string{{"v1", fmt.Sprint("m", n)}, {"a1", "m0"}, {"v1m", "0"}, {"", "v1\x00m0"}} {
				if s.has(clientKey(miss[0], miss[1])) {
					t.Errorf("%q/%q found among %d", miss[0], miss[1], n)
				}
			}
		})
	}
}
