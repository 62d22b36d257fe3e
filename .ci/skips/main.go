// Command skips reads `go test -json` on stdin and prints what go test prints
// without -json (the output of failed tests and a line per package), then
// fails if any test skipped: under CI=true a skip is a failure unless its
// message says the test cannot apply on this kernel (testutil.SkipKernel).
// The tests' own helpers fail their known skips under CI; this catches the
// skips that do not go through them.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

type event struct {
	Action, Package, Test, Output, ImportPath string
}

func main() {
	skips, err := filter(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "skips: reading go test -json:", err)
		os.Exit(1)
	}
	if len(skips) > 0 {
		fmt.Fprintf(os.Stderr, "%d tests skipped under CI=true, and a skip must say %q why it cannot apply here:\n  %s\n",
			len(skips), testutil.KernelPrefix, strings.Join(skips, "\n  "))
		os.Exit(1)
	}
}

// filter copies to w what go test would print without -json, and returns the
// skipped tests that are not kernel skips, with their messages.
func filter(r io.Reader, w io.Writer) ([]string, error) {
	bufs := map[[2]string]*strings.Builder{} // output of each running test
	flush := func(pkg string) {
		var keys [][2]string
		for k := range bufs {
			if k[0] == pkg || pkg == "" {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][1] < keys[j][1] })
		for _, k := range keys {
			fmt.Fprint(w, bufs[k].String())
			delete(bufs, k)
		}
	}
	var skips []string
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var e event
		if err := json.Unmarshal(in.Bytes(), &e); err != nil {
			fmt.Fprintln(w, in.Text()) // not JSON: go test's own message
			continue
		}
		key := [2]string{e.Package, e.Test}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "output":
			if strings.HasPrefix(e.Output, "FAIL") {
				flush(e.Package) // a panic or timeout ended tests mid-run
			}
			if e.Output != "PASS\n" {
				fmt.Fprint(w, e.Output)
			}
		case e.Test == "" && e.Action == "fail":
			flush(e.Package)
		case e.Test == "":
		case e.Action == "output":
			if strings.HasPrefix(e.Output, "=== ") { // RUN, PAUSE, CONT, NAME: -v only
				continue
			}
			if bufs[key] == nil {
				bufs[key] = &strings.Builder{}
			}
			bufs[key].WriteString(e.Output)
		case e.Action == "fail":
			if b := bufs[key]; b != nil {
				fmt.Fprint(w, b.String())
			}
			delete(bufs, key)
		case e.Action == "skip":
			var why []string
			if b := bufs[key]; b != nil {
				for _, l := range strings.Split(b.String(), "\n") {
					if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- SKIP") {
						why = append(why, l)
					}
				}
			}
			delete(bufs, key)
			msg := strings.Join(why, " / ")
			if !strings.Contains(msg, ": "+testutil.KernelPrefix) {
				skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, msg))
			}
		case e.Action == "pass":
			delete(bufs, key)
		}
	}
	flush("")
	return skips, in.Err()
}
