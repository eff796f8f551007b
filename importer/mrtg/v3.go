package mrtg

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"github.com/hactl/hactl/importer"
)

// snmpOptions is what an SnmpOptions line says about SNMPv3: MRTG hands
// these Perl hash entries to Net::SNMP.
type snmpOptions struct {
	user, auth, authProto, priv, privProto string
	used                                   bool // by an SNMPv3 target
}

// optionRE matches one key=>value entry; values are quoted or bare.
var optionRE = regexp.MustCompile(`^\s*([A-Za-z_]+)\s*=>\s*(?:'([^']*)'|"([^"]*)"|([^,'"\s]+))\s*(?:,|$)`)

var (
	// Net::SNMP's names (-authprotocol, -privprotocol) → hactl's.
	authProtocols = map[string]string{"md5": "MD5", "sha": "SHA", "sha1": "SHA", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
	privProtocols = map[string]string{"des": "DES", "aes": "AES", "aes128": "AES", "aescfb128": "AES", "aes192": "AES192", "aescfb192": "AES192", "aes256": "AES256", "aescfb256": "AES256"}
)

// parseOptions reads an SnmpOptions line, reporting what it cannot
// translate; the passwords are masked in the diagnostics' quotes.
func parseOptions(m *importer.Model, l line) *snmpOptions {
	opts := &snmpOptions{}
	directive := "SnmpOptions[" + l.target + "]"
	rest := l.value
	for strings.TrimSpace(rest) != "" {
		mt := optionRE.FindStringSubmatch(rest)
		if mt == nil {
			m.Invalid(l.o, "Unreadable "+directive, "SnmpOptions is a list of key=>'value' entries separated by commas.")
			return opts
		}
		rest = rest[len(mt[0]):]
		key, value := strings.ToLower(mt[1]), mt[2]+mt[3]+mt[4]
		switch key {
		case "username":
			opts.user = value
		case "authpassword":
			opts.auth = value
			m.MaskSecret(l.o.File, value)
		case "privpassword":
			opts.priv = value
			m.MaskSecret(l.o.File, value)
		case "authprotocol":
			if opts.authProto = authProtocols[strings.ToLower(value)]; opts.authProto == "" {
				m.Invalid(l.o, "Unknown authprotocol "+value, "hactl authenticates SNMPv3 with md5, sha, sha224, sha256, sha384 or sha512.")
			}
		case "privprotocol":
			if opts.privProto = privProtocols[strings.ToLower(value)]; opts.privProto == "" {
				m.Differs(l.o, directive+" privprotocol "+value, "hactl encrypts SNMPv3 with DES or AES (128, 192, 256 bits); reconfigure the device's user for one of them.")
			}
		case "authkey", "privkey":
			m.MaskSecret(l.o.File, value)
			m.Differs(l.o, directive+" "+key, "A localized key stands for a password hactl needs: hactl derives the keys from the passwords (auth_password_file, priv_password_file). Give authpassword/privpassword instead.")
		case "contextname", "contextengineid":
			m.Differs(l.o, directive+" "+key, "hactl polls the default SNMPv3 context of the device's engine.")
		default:
			m.Unsupported(l.o, directive+" "+key, "Not an SNMPv3 option hactl has a counterpart for; hactl polls with its own timeouts and retries.")
		}
	}
	if opts.priv != "" && opts.auth == "" {
		m.Invalid(l.o, directive+": privpassword without authpassword", "SNMPv3 encrypts only authenticated messages (authPriv): give authpassword too.")
	}
	return opts
}

// securityLevel is the USM level the options amount to.
func (o *snmpOptions) securityLevel() string {
	switch {
	case o.priv != "":
		return "authPriv"
	case o.auth != "":
		return "authNoPriv"
	}
	return "noAuthNoPriv"
}

// block is the device's v3 block, its passwords written as secret files.
// Without a protocol, Net::SNMP's defaults hold: HMAC-MD5 and DES, which
// hactl's (SHA256, AES) would not match, so they are written out.
func (o *snmpOptions) block(m *importer.Model, device string) *importer.SNMPv3 {
	v3 := &importer.SNMPv3{User: o.user, SecurityLevel: o.securityLevel()}
	if o.auth != "" {
		v3.AuthProtocol = cmp.Or(o.authProto, "MD5")
		v3.AuthPasswordFile = fmt.Sprintf("secrets/snmp-%s-auth", device)
		m.Secrets[v3.AuthPasswordFile] = []byte(o.auth + "\n")
	}
	if o.priv != "" && o.auth != "" {
		v3.PrivProtocol = cmp.Or(o.privProto, "DES")
		v3.PrivPasswordFile = fmt.Sprintf("secrets/snmp-%s-priv", device)
		m.Secrets[v3.PrivPasswordFile] = []byte(o.priv + "\n")
	}
	return v3
}

// matches reports whether v3 (a device's block) has these options.
func (o *snmpOptions) matches(m *importer.Model, v3 *importer.SNMPv3) bool {
	auth, priv := "", ""
	if v3.AuthPasswordFile != "" {
		auth = strings.TrimSuffix(string(m.Secrets[v3.AuthPasswordFile]), "\n")
	}
	if v3.PrivPasswordFile != "" {
		priv = strings.TrimSuffix(string(m.Secrets[v3.PrivPasswordFile]), "\n")
	}
	return v3.User == o.user && v3.SecurityLevel == o.securityLevel() && auth == o.auth && priv == o.priv &&
		(o.auth == "" || v3.AuthProtocol == cmp.Or(o.authProto, "MD5")) && (o.priv == "" || v3.PrivProtocol == cmp.Or(o.privProto, "DES"))
}
