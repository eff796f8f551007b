// Package hostile holds the names tests feed through everything hactl
// builds from a configuration's labels (issue 15, defect 4): shell
// quotes and substitutions, separators, path escapes, option-like and
// non-ASCII names. Validation must refuse each of them with a diagnostic,
// and the command builders, bypassing validation, must pass each to the
// host's shell as one literal word.
package hostile

import "strings"

// Names are the hostile names.
var Names = []string{
	"sw$(touch HACTL_PWNED)",
	"sw`touch HACTL_PWNED`",
	`sw"; touch HACTL_PWNED; "`,
	"sw'; touch HACTL_PWNED; '",
	`sw\'x`,
	"sw;touch HACTL_PWNED",
	"sw|touch HACTL_PWNED",
	"sw&&touch HACTL_PWNED",
	"sw\ntouch HACTL_PWNED",
	"sw x",
	"sw\tx",
	"sw*",
	"sw?",
	"$HOME",
	"${IFS}",
	"~root",
	"/../../../../etc/cron.d/x",
	"../x",
	"..",
	".",
	"a/b",
	"-rf",
	"--help",
	"1st",
	"",
	"swé",
	"sw\u00a0x",
	"sw\u202ex",
	strings.Repeat("a", 64),
}

// Marker is the file a name above creates when a shell runs it instead of
// taking it as a word.
const Marker = "HACTL_PWNED"
