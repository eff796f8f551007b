package proxy

import (
	"slices"
	"testing"
)

func TestMethodSetsExpandToPoundsXHTTPLevels(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"get", "Post"}, []string{"GET", "POST"}},
		{[]string{"xhttp0"}, []string{"GET", "HEAD", "POST"}},
		{[]string{"XHTTP1", "OPTIONS", "GET"}, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
		{[]string{"xhttp9"}, []string{"XHTTP9"}},
	} {
		if got := expandMethods(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := expandMethods([]string{"xhttp3"}); len(got) != 3+3+14+10 || !slices.Contains(got, "PROPFIND") || !slices.Contains(got, "CONNECT") {
		t.Errorf("xhttp3: %q", got)
	}
}
