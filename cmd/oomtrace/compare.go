package main

import (
	"io"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/gate"
)

func init() {
	register(command{name: "compare", summary: "compare two run summaries: peak PSS, end PSS and growth per service", run: cmdCompare})
}

const compareExamples = `  oomtrace compare main/summary.json branch/summary.json
  oomtrace compare --json main/summary.json branch/summary.json | jq '.services[0]'
`

func cmdCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", "compare [flags] A.json B.json", compareExamples, stdout)
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("want two summary files (A, the earlier run, then B), got %d arguments", fs.NArg())
	}
	var ds [2]*dump.Dump
	for i := range ds {
		d, err := gate.ReadSummary(fs.Arg(i))
		if err != nil {
			return usagef("%v", err)
		}
		ds[i] = d
	}
	c := gate.Compare(ds[0], ds[1], -1)
	c.AFile, c.BFile = fs.Arg(0), fs.Arg(1)
	if *asJSON {
		return dump.WriteComparisonJSON(stdout, c)
	}
	return dump.WriteComparison(stdout, c, 0)
}
