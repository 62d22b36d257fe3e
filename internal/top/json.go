package top

import (
	"encoding/json"
	"io"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// WriteJSON prints snap as exactly one line of JSON, in the schema of the
// aggregate types, with the services sorted by key. Names are encoded as JSON
// strings (control characters escaped; invalid UTF-8 becomes U+FFFD), so the
// line is always valid JSON; NaN and infinite figures, which JSON cannot
// hold, are written as 0, and a time to OOM that is not finite is left out.
func WriteJSON(w io.Writer, snap aggregate.Snapshot, key SortKey) error {
	out := snap.Finite()
	SortServices(out.Services, key)
	return json.NewEncoder(w).Encode(out)
}
