// Package redact keeps credentials out of command lines before they are
// shown or written: values of secret-looking options and environment-style
// assignments, and passwords in URLs. With All, every argument goes.
package redact

import (
	"path"
	"regexp"
	"strings"
	"unicode"
)

// Mask replaces a redacted value.
const Mask = "***"

var (
	// urlCreds matches scheme://user:password@ in URLs.
	urlCreds = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*):[^@/\s]*@`)
)

// Args returns argv with secrets masked; all masks everything after argv[0].
func Args(argv []string, all bool) []string {
	if len(argv) == 0 {
		return argv
	}
	out := make([]string, len(argv))
	out[0] = urlCreds.ReplaceAllString(argv[0], "${1}:"+Mask+"@")
	prog := path.Base(argv[0])
	maskNext, userNext := false, false
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case all:
			out[i] = Mask
		case maskNext:
			out[i], maskNext = Mask, false
		case userNext:
			out[i], userNext = userPass(a), false
		case mysqlLike[prog] && len(a) > 2 && strings.HasPrefix(a, "-p"):
			out[i] = "-p" + Mask // mysql -pSECRET
		case a == "--user" || a == "--proxy-user" || a == "-u" && prog == "curl":
			out[i], userNext = a, true // curl -u USER:SECRET
		case strings.HasPrefix(a, "--user=") || strings.HasPrefix(a, "--proxy-user="):
			name, v, _ := strings.Cut(a, "=")
			out[i] = name + "=" + userPass(v)
		default:
			out[i], maskNext = arg(a)
		}
	}
	return out
}

// mysqlLike are the clients that take -pPASSWORD glued to the option.
var mysqlLike = map[string]bool{"mysql": true, "mysqldump": true, "mysqladmin": true, "mysqlimport": true,
	"mysqlcheck": true, "mysqlshow": true, "mariadb": true, "mariadb-dump": true, "mariadb-admin": true}

// userPass masks the password of a USER:PASSWORD value.
func userPass(v string) string {
	if u, _, ok := strings.Cut(v, ":"); ok {
		return u + ":" + Mask
	}
	return v
}

// arg masks one argument; the bool says the next argument is its value.
func arg(a string) (string, bool) {
	a = urlCreds.ReplaceAllString(a, "${1}:"+Mask+"@")
	name, _, hasValue := strings.Cut(a, "=")
	isOpt := strings.HasPrefix(name, "-")
	if !secretName(name) {
		return a, false
	}
	switch {
	case hasValue && (isOpt || isVarName(name)):
		return name + "=" + Mask, false
	case isOpt && !hasValue:
		return a, true // --password VALUE
	}
	return a, false
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !(r >= 'A' && r <= 'Z') && !(r >= 'a' && r <= 'z') && !(i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Line redacts a command line joined by spaces.
func Line(argv []string, all bool) string { return strings.Join(Args(argv, all), " ") }

// secretWords and secretPairs are the words of option and variable names
// that carry secrets: --db-password, AWS_SECRET_ACCESS_KEY, --api-key.
var (
	secretWords = map[string]bool{"pass": true, "password": true, "passwd": true, "passphrase": true, "pwd": true,
		"secret": true, "token": true, "apikey": true, "auth": true, "credential": true, "credentials": true}
	secretPairs = map[string]bool{"api key": true, "access key": true, "private key": true, "secret key": true}
)

// secretName reads name split at camel case and, for names whose case is
// mixed otherwise (--pAssworD), lowercased whole.
func secretName(name string) bool {
	return secretIn(splitCamel(name)) || secretIn(strings.ToLower(name))
}

func secretIn(lower string) bool {
	words := strings.FieldsFunc(lower, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	for i, w := range words {
		if secretWords[w] || i > 0 && secretPairs[words[i-1]+" "+w] || secretSuffix(w) {
			return true
		}
	}
	return false
}

// secretSuffix catches words run together: --requirepass, dbpassword,
// and password anywhere in a word (password2).
func secretSuffix(w string) bool {
	if strings.Contains(w, "password") || strings.Contains(w, "passwd") {
		return true
	}
	for _, s := range []string{"pass", "secret", "token"} {
		if strings.HasSuffix(w, s) && w != "bypass" && w != "compass" {
			return true
		}
	}
	return false
}

// splitCamel lowercases name with a space at each lower-to-upper step, so
// keyStorePassword reads as "key store password".
func splitCamel(name string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range name {
		if unicode.IsUpper(r) && unicode.IsLower(prev) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return b.String()
}
