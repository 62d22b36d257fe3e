package native

import (
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// maxMangled is the longest symbol name demangled; longer ones are shown as
// they are. The demangler's work grows with its input and its output
// (bounded by maxDemangled), so a hostile name costs bounded time.
const maxMangled = 4096

// maxDemangledPow caps a demangled name at 2^10 bytes, longer than any frame is
// shown (the aggregate cuts names at 256 bytes); the rest is cut.
const maxDemangledPow = 10

// demangleName gives the C++ (Itanium, _Z) or Rust (v0 _R, and legacy _ZN…17h
// hash E) name of a symbol, or name itself when it is not mangled, too long,
// or not understood.
func demangleName(name string) (out string) {
	defer func() {
		// A demangler bug costs the readable name, not the stack.
		if recover() != nil {
			out = name
		}
	}()
	if len(name) > maxMangled || !(strings.HasPrefix(name, "_Z") || strings.HasPrefix(name, "_R") || strings.HasPrefix(name, "___Z")) {
		return name
	}
	s, err := demangle.ToString(name, demangle.MaxLength(maxDemangledPow))
	if err != nil || s == "" {
		return name
	}
	return s
}
