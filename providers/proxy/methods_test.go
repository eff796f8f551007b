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
		{[]string{"standard"}, []string{"GET", "HEAD", "POST"}},
		{[]string{"XHTTP1", "OPTIONS", "GET"}, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
		{[]string{"Extended"}, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}},
		{[]string{"xhttp9"}, []string{"XHTTP9"}},
		{nil, nil},
	} {
		if got := expandMethods(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, set := range []string{"xhttp2", "webdav"} {
		if got := expandMethods([]string{set}); len(got) != 3+3+14 || !slices.Contains(got, "PROPFIND") || slices.Contains(got, "CONNECT") {
			t.Errorf("%s: %q", set, got)
		}
	}
	for _, set := range []string{"xhttp4", "ms_rpc"} {
		if got := expandMethods([]string{set}); len(got) != 3+3+14+10+2 || !slices.Contains(got, "CONNECT") || !slices.Contains(got, "RPC_OUT_DATA") {
			t.Errorf("%s: %q", set, got)
		}
	}
	for _, set := range []string{"xhttp3", "ms_webdav"} {
		if got := expandMethods([]string{set}); len(got) != 3+3+14+10 || !slices.Contains(got, "PROPFIND") || !slices.Contains(got, "CONNECT") {
			t.Errorf("%s: %q", set, got)
		}
	}
}
