package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Markers of known_hosts lines (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT).
const (
	markerNone      = ""
	markerCA        = "@cert-authority"
	markerRevoked   = "@revoked"
	hashedHostMagic = "|1|"
)

// knownHost is one usable line of a known_hosts file.
type knownHost struct {
	marker  string // markerNone, markerCA or markerRevoked
	hosts   string // comma-separated patterns, or one |1|salt|hash
	key     ssh.PublicKey
	comment string
	file    string
	line    int
}

// where is the line's place, as messages name it.
func (k knownHost) where() string { return fmt.Sprintf("%s:%d", k.file, k.line) }

// badLine is a known_hosts line that cannot be read. OpenSSH skips such
// lines (and so does hactl, with a warning) rather than refusing every
// host because of one.
type badLine struct {
	file string
	line int
	err  error
}

func (b badLine) String() string {
	return fmt.Sprintf("%s:%d: skipping a line that is not a known_hosts entry: %v", b.file, b.line, b.err)
}

// parseKnownHosts reads the lines of one known_hosts file: the entries it
// can use and the lines it cannot.
func parseKnownHosts(data []byte, file string) (hosts []knownHost, bad []badLine) {
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := bytes.Trim(raw, blanks+"\r")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := parseKnownHost(string(line))
		if err != nil {
			bad = append(bad, badLine{file: file, line: i + 1, err: err})
			continue
		}
		k.file, k.line = file, i+1
		hosts = append(hosts, k)
	}
	return hosts, bad
}

// blanks separate a known_hosts line's fields, for OpenSSH as here: other
// white space (a vertical tab, a no-break space) belongs to a field.
const blanks = " \t"

// parseKnownHost reads "[marker] hosts keytype base64 [comment]".
func parseKnownHost(line string) (knownHost, error) {
	var k knownHost
	fields := strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(blanks, r) })
	if len(fields) > 0 && strings.HasPrefix(fields[0], "@") {
		switch fields[0] {
		case markerCA, markerRevoked:
			k.marker, fields = fields[0], fields[1:]
		default:
			return k, fmt.Errorf("unknown marker %q", fields[0])
		}
	}
	if len(fields) < 3 {
		return k, errors.New("want host patterns, a key type and a base64 key")
	}
	k.hosts = fields[0]
	if strings.HasPrefix(k.hosts, hashedHostMagic) {
		if _, _, err := decodeHashedHost(k.hosts); err != nil {
			return k, err
		}
	} else if err := checkPatterns(k.hosts); err != nil {
		return k, err
	}
	blob, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil {
		return k, fmt.Errorf("key: %w", err)
	}
	if k.key, err = ssh.ParsePublicKey(blob); err != nil {
		return k, fmt.Errorf("key: %w", err)
	}
	if k.key.Type() != fields[1] {
		return k, fmt.Errorf("key type %q, but the key is %s", fields[1], k.key.Type())
	}
	if _, ok := k.key.(*ssh.Certificate); ok {
		return k, errors.New("a certificate, where a plain key belongs")
	}
	k.comment = strings.Join(fields[3:], " ")
	return k, nil
}

// checkPatterns refuses host pattern lists OpenSSH would not match
// anything with.
func checkPatterns(list string) error {
	for p := range strings.SplitSeq(list, ",") {
		switch {
		case p == "" || p == "!":
			return fmt.Errorf("empty host pattern in %q", list)
		case strings.HasPrefix(p, "|"):
			return fmt.Errorf("hashed host %q in a list: a hashed name stands alone", p)
		}
	}
	return nil
}

// decodeHashedHost splits "|1|salt|hash" (both base64, HMAC-SHA1).
func decodeHashedHost(s string) (salt, sum []byte, err error) {
	parts := strings.Split(strings.TrimPrefix(s, hashedHostMagic), "|")
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("hashed host %q: want |1|salt|hash", s)
	}
	if salt, err = base64.StdEncoding.DecodeString(parts[0]); err != nil {
		return nil, nil, fmt.Errorf("hashed host %q: salt: %w", s, err)
	}
	if sum, err = base64.StdEncoding.DecodeString(parts[1]); err != nil {
		return nil, nil, fmt.Errorf("hashed host %q: hash: %w", s, err)
	}
	if len(salt) != sha1.Size || len(sum) != sha1.Size {
		return nil, nil, fmt.Errorf("hashed host %q: salt and hash must be %d bytes", s, sha1.Size)
	}
	return salt, sum, nil
}

// String is the line as known_hosts holds it.
func (k knownHost) String() string {
	s := k.hosts + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.key)))
	if k.marker != markerNone {
		s = k.marker + " " + s
	}
	if k.comment != "" {
		s += " " + k.comment
	}
	return s
}

// matches says whether the line is about name, a host as known_hosts
// writes it ("host" on port 22, "[host]:port" otherwise), by OpenSSH's
// rules: a hashed name is compared whole; otherwise any pattern may match
// (* and ? wildcards, case-insensitive) and a matching negated pattern
// (!pattern) rules the line out.
func (k knownHost) matches(name string) bool {
	name = strings.ToLower(name)
	if strings.HasPrefix(k.hosts, hashedHostMagic) {
		salt, sum, err := decodeHashedHost(k.hosts)
		if err != nil {
			return false
		}
		mac := hmac.New(sha1.New, salt)
		mac.Write([]byte(name))
		return hmac.Equal(mac.Sum(nil), sum)
	}
	found := false
	for p := range strings.SplitSeq(strings.ToLower(k.hosts), ",") {
		negated := strings.HasPrefix(p, "!")
		if !wildcardMatch(strings.TrimPrefix(p, "!"), name) {
			continue
		}
		if negated {
			return false
		}
		found = true
	}
	return found
}

// wildcardMatch matches s against pattern, where * is any run of
// characters and ? any one.
func wildcardMatch(pattern, s string) bool {
	// The last star's place, to go back to on a mismatch: linear, with no
	// recursion for a hostile pattern to blow up.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
