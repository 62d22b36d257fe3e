package safe

import "testing"

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"load: permission denied":         "load: permission denied",
		"load: invalid argument\n0: (b7)": "load: invalid argument",
		"\nrest":                          "",
	} {
		if got := FirstLine(in); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFoldSpace(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"no space left on device":     "no space left on device",
		" open x:\n\tno  such file\n": "open x: no such file",
	} {
		if got := FoldSpace(in); got != want {
			t.Errorf("FoldSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeControl(t *testing.T) {
	for in, want := range map[string]string{
		"rules.conf":        "rules.conf",
		"a\\b évolution":    `a\b évolution`,
		"bidi\u202e":        "bidi\u202e", // a format character, not a control one
		"bad\xff":           "bad\xff",    // nothing to escape: unchanged
		"new\nline\x1b[31m": `new\x0aline\x1b[31m`,
		"c1\u0085\xff":      "c1\\x85\ufffd",
	} {
		if got := EscapeControl(in); got != want {
			t.Errorf("EscapeControl(%q) = %q, want %q", in, got, want)
		}
	}
}
