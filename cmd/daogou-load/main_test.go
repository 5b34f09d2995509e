package main

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"relay --supervisor-password s3cret --rate 5", "relay --supervisor-password *** --rate 5"},
		{"relay -supervisor-password=s3cret", "relay -supervisor-password=***"},
		{"rules --agent-password=abcdefgh --url x", "rules --agent-password=*** --url x"},
		{"idle --sessions 10", "idle --sessions 10"},
		{"relay --supervisor-email a@b --supervisor-password", "relay --supervisor-email a@b --supervisor-password"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := strings.Join(redact(strings.Fields(tc.in)), " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
