package rsync

import (
	"slices"
	"testing"
)

func TestShellWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: `rsync -a /a/ b:/c/`, want: []string{"rsync", "-a", "/a/", "b:/c/"}},
		{in: `--exclude '*.tmp' --exclude "a b"`, want: []string{"--exclude", "*.tmp", "--exclude", "a b"}},
		{in: `a\ b 'it''s'`, want: []string{"a b", "its"}},
		{in: `''`, want: []string{""}},
		{in: `'open`, bad: true},
		{in: `trailing\`, bad: true},
	} {
		got, err := shellWords(c.in)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q, error %t", c.in, got, err, c.want, c.bad)
		}
	}
}

func TestCronInterval(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
		ok   bool
	}{
		{in: []string{"*/15", "*", "*", "*", "*"}, want: "15m", ok: true},
		{in: []string{"*", "*", "*", "*", "*"}, want: "1m", ok: true},
		{in: []string{"5", "*", "*", "*", "*"}, want: "1h", ok: true},
		{in: []string{"0", "*/6", "*", "*", "*"}, want: "6h", ok: true},
		{in: []string{"30", "2", "*", "*", "*"}, want: "1d", ok: true},
		{in: []string{"30", "2", "*", "*", "1-5"}},
		{in: []string{"*/0", "*", "*", "*", "*"}, want: "0m"},
	} {
		got, ok := cronInterval(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("cronInterval(%v) = %q, %t; want %q, %t", c.in, got, ok, c.want, c.ok)
		}
	}
}
