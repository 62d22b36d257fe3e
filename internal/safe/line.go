package safe

import (
	"fmt"
	"strings"
	"unicode"
)

// What keeps a message on one line, three ways: cut at the first newline
// (an error whose rest is a verifier log), fold all white space (a wrapped
// message), or escape control characters (user input quoted in an error).

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// FoldSpace joins the words of s with one space each: newlines, tabs and
// runs of spaces become one space, and leading and trailing ones go.
func FoldSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// EscapeControl writes control characters as \xNN. Unlike Text it keeps
// backslashes, format characters and invalid UTF-8 (which becomes U+FFFD
// in a string that had a control character to escape).
func EscapeControl(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if unicode.IsControl(c) {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}
