package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/oomtrace/oomtrace/internal/dump"
)

func init() {
	register(command{name: "report", summary: "render a dump (.json) as text or HTML", run: cmdReport})
}

const reportExamples = `  oomtrace report /var/log/oomtrace/oom-20261125T190257.412Z-10717.json
  oomtrace report --html oom.html oom-20261125T190257.412Z-10717.json
`

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", "report [flags] FILE.json", reportExamples, stdout)
	htmlOut := fs.String("html", "", "write a self-contained HTML report to this file instead of text to stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one dump file, got %d arguments", fs.NArg())
	}
	d, err := dump.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if *htmlOut == "" {
		return dump.WriteText(stdout, d)
	}
	var b bytes.Buffer
	if err := dump.WriteHTML(&b, d); err != nil {
		return err
	}
	if err := os.WriteFile(*htmlOut, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write --html: %w", err)
	}
	return nil
}
