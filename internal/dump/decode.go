package dump

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// maxDumpSize bounds what Decode reads, so that a stray huge file is an
// error rather than an allocation of its whole size.
const maxDumpSize = 256 << 20

// Decode reads one dump. It rejects, each with a one-line error, empty input,
// truncated or corrupt JSON, a JSON document that is not an oomtrace dump
// (no version, or an unknown kind), and a dump of a newer schema version than
// this build understands. Unknown fields are ignored, so that older readers
// still read what newer writers of the same version add. Times are returned
// in UTC.
func Decode(r io.Reader) (*Dump, error) {
	br := bufio.NewReader(r)
	if err := startsObject(br); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(br, maxDumpSize+1))
	if err != nil {
		return nil, fmt.Errorf("read dump: %s", safe.FoldSpace(err.Error()))
	}
	if len(data) > maxDumpSize {
		return nil, fmt.Errorf("dump is larger than %d bytes", maxDumpSize)
	}
	return decode(data)
}

// startsObject looks at the first bytes, so that a binary or huge foreign
// file is refused at once rather than read whole.
func startsObject(br *bufio.Reader) error {
	for {
		b, err := br.ReadByte()
		switch {
		case err == io.EOF:
			return errors.New("empty dump")
		case err != nil:
			return fmt.Errorf("read dump: %s", safe.FoldSpace(err.Error()))
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			continue
		case b != '{':
			return fmt.Errorf("%w: not a JSON object", errNotDump)
		}
		return br.UnreadByte()
	}
}

// ReadFile reads the dump in path; errors name the file. Only regular files
// are read: a FIFO or a device would block or never end.
func ReadFile(path string) (*Dump, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// errNotDump is the error for valid JSON that is not a dump.
var errNotDump = errors.New("not an oomtrace dump")

func decode(data []byte) (*Dump, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty dump")
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil { // cannot happen; keep a message anyway
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("truncated or corrupt dump: %s", safe.FoldSpace(err.Error()))
	}
	// Look at version and kind first, with the same (case-insensitive)
	// field matching as the full decode, so that a dump of a newer version
	// is reported as such even when the rest of it no longer fits Dump.
	var head struct {
		Version json.RawMessage `json:"version"`
		Kind    json.RawMessage `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w (not a JSON object)", errNotDump)
	}
	version, err := checkVersion(head.Version)
	if err != nil {
		return nil, err
	}
	var kind string
	if len(head.Kind) == 0 || json.Unmarshal(head.Kind, &kind) != nil {
		return nil, fmt.Errorf("%w (no kind)", errNotDump)
	}
	if !knownKind(kind) {
		return nil, fmt.Errorf("%w (unknown kind %q)", errNotDump, kind)
	}
	d := new(Dump)
	if err := json.Unmarshal(data, d); err != nil {
		return nil, fmt.Errorf("truncated or corrupt dump: %s", safe.FoldSpace(err.Error()))
	}
	if d.Version != version || d.Kind != kind { // cannot happen; be sure
		return nil, fmt.Errorf("%w (inconsistent version or kind)", errNotDump)
	}
	if err := canonical(d); err != nil {
		return nil, err
	}
	if err := checkStacks(d); err != nil {
		return nil, err
	}
	if err := checkDomains(d); err != nil {
		return nil, err
	}
	return d, nil
}

// canonical puts every time in UTC (the writer's zone) and makes empty lists
// and maps that the writer omits (omitempty) nil, as they decode when
// omitted, so that a decoded dump encodes and decodes again to the same value.
// A time that leaves the years 0-9999 in UTC (0000-01-01T00:00:00+01:00)
// cannot be encoded again, so it is an error.
func canonical(d *Dump) error {
	var bad time.Time
	utc := func(t *time.Time) {
		if *t = t.UTC(); (t.Year() < 0 || t.Year() > 9999) && bad.IsZero() {
			bad = *t
		}
	}
	utc(&d.Time)
	utc(&d.Window.Start)
	utc(&d.Window.End)
	for i := range d.Kills {
		utc(&d.Kills[i].Time)
	}
	for i := range d.Services {
		for j := range d.Services[i].Samples {
			utc(&d.Services[i].Samples[j].Time)
		}
		if len(d.Services[i].Stacks) == 0 {
			d.Services[i].Stacks = nil
		}
	}
	for i := range d.SystemSamples {
		utc(&d.SystemSamples[i].Time)
	}
	if d.Run != nil {
		utc(&d.Run.Start)
		utc(&d.Run.End)
	}
	if len(d.Kills) == 0 {
		d.Kills = nil
	}
	s := &d.System
	if len(s.Lost) == 0 {
		s.Lost = nil
	}
	if len(s.Memcgs) == 0 {
		s.Memcgs = nil
	}
	if len(s.Hooks) == 0 {
		s.Hooks = nil
	}
	if !bad.IsZero() {
		return fmt.Errorf("corrupt dump: a time in year %d, outside 0-9999", bad.Year())
	}
	return nil
}

// checkVersion accepts a JSON integer from 1 to Version.
func checkVersion(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, fmt.Errorf("%w (no version)", errNotDump)
	}
	var num json.Number
	if raw[0] == '"' || json.Unmarshal(raw, &num) != nil {
		return 0, fmt.Errorf("%w (version is not a number)", errNotDump)
	}
	v, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && num.String()[0] != '-' {
			return 0, fmt.Errorf("dump version %.40s is newer than this oomtrace understands (%d)", num.String(), Version)
		}
		return 0, fmt.Errorf("%w (version %.40s is not a whole number)", errNotDump, num.String())
	}
	switch {
	case v <= 0:
		return 0, fmt.Errorf("%w (version %d)", errNotDump, v)
	case v > Version:
		return 0, fmt.Errorf("dump version %d is newer than this oomtrace understands (%d)", v, Version)
	}
	return int(v), nil
}

func knownKind(k string) bool {
	switch k {
	case KindOOM, KindSnapshot, KindWarn, KindSummary:
		return true
	}
	return false
}
