package dump

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

func encode(t testing.TB, d *Dump) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, d := range []*Dump{testDump(), minimalDump(KindSnapshot), summaryDump(), warnDump()} {
		got, err := Decode(bytes.NewReader(encode(t, d)))
		if err != nil {
			t.Fatalf("%s: %v", d.Kind, err)
		}
		if want := withUTF8(d); !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("%s: round trip differs:\n got %.400s\nwant %.400s", d.Kind, g, w)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	full := encode(t, testDump())
	for _, c := range []struct {
		name, in, want string
	}{
		{"empty", "", "empty dump"},
		{"blank", " \n\t", "empty dump"},
		{"truncated", string(full[:len(full)/2]), "truncated or corrupt dump: "},
		{"truncated at 1", "{", "truncated or corrupt dump: "},
		{"garbage", "\x00\x01oops", "not an oomtrace dump: not a JSON object"},
		{"object after blanks, truncated", " \n{\"version\":1", "truncated or corrupt dump: "},
		{"two documents", `{"version":1,"kind":"oom"} {}`, "truncated or corrupt dump: "},
		{"array", `[1,2,3]`, "not an oomtrace dump"},
		{"string", `"oom"`, "not an oomtrace dump"},
		{"null", `null`, "not an oomtrace dump"},
		{"other json", `{"name":"left-pad","version":"1.3.0"}`, "not an oomtrace dump"},
		{"no version", `{"kind":"oom"}`, "not an oomtrace dump"},
		{"zero version", `{"version":0,"kind":"oom"}`, "not an oomtrace dump"},
		{"negative version", `{"version":-3,"kind":"oom"}`, "not an oomtrace dump"},
		{"fractional version", `{"version":1.5,"kind":"oom"}`, "not an oomtrace dump"},
		{"unknown kind", `{"version":1,"kind":"heapdump"}`, "not an oomtrace dump"},
		{"no kind", `{"version":1}`, "not an oomtrace dump"},
		{"newer", `{"version":2,"kind":"oom"}`, "dump version 2 is newer than this oomtrace understands (1)"},
		{"newer, other shape", `{"version":7,"kind":"brand-new","services":{"a":1}}`, "dump version 7 is newer than this oomtrace understands (1)"},
		{"much newer", `{"version":123456789012345678901234567890,"kind":"oom"}`, "is newer than this oomtrace understands (1)"},
		{"wrong type", `{"version":1,"kind":"oom","services":"many"}`, "truncated or corrupt dump: "},
	} {
		_, err := Decode(strings.NewReader(c.in))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want %q", c.name, msg, c.want)
		}
		if strings.Contains(msg, "\n") || len(msg) > 300 {
			t.Errorf("%s: error is not one short line: %q", c.name, msg)
		}
	}
	if _, err := Decode(iotest.ErrReader(errors.New("disk on fire"))); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}

func TestDecodeUnknownFields(t *testing.T) {
	in := `{"version":1,"kind":"snapshot","time":"2026-11-25T19:02:57Z","future_field":{"x":[1,2]},
		"host":{"hostname":"h","gpu":"none"},"services":[{"name":"a","new_metric":5,"end_rss_bytes":7}]}`
	d, err := Decode(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if d.Host.Hostname != "h" || len(d.Services) != 1 || d.Services[0].EndBytes != 7 {
		t.Errorf("decoded %+v", d)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(p, []byte(`{"version":1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": truncated or corrupt dump") {
		t.Errorf("ReadFile(truncated) = %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v", err)
	}
	// A FIFO would block and a device never end: both are refused at once.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", dir} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(p); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("ReadFile(%s) = %v", p, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadFile(%s) blocks", p)
		}
	}
	// A big foreign file is refused from its first byte, not read whole.
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(4 << 30) // sparse: 4 GiB of zeros
	f.Close()
	start := time.Now()
	if _, err := ReadFile(big); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("ReadFile(4 GiB of zeros) = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing 4 GiB of zeros took %s", d)
	}
}

func FuzzDecode(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzDecode.
	f.Add(encode(f, minimalDump(KindOOM)))
	f.Add([]byte(`{"version":1,"kind":"warn","time":"2026-11-25T19:02:57+01:00","warning":{"seconds":1e308}}`))
	f.Add([]byte(`{"version":1,"kind":"snapshot","services":[{"name":"s","stacks":[{"held_bytes":18446744073709551615,` +
		`"frames":[{"function":"f","line":3,"module":"m"},{"module":"m","offset":16}]},{"held_bytes":1,"truncated":true,"frames":[{}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(bytes.NewReader(data))
		if err != nil {
			if d != nil {
				t.Fatal("a dump and an error")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		var b bytes.Buffer
		if err := writeJSON(&b, d); err != nil {
			t.Fatalf("decoded dump does not encode: %v", err)
		}
		d2, err := Decode(&b)
		if err != nil {
			t.Fatalf("re-encoded dump does not decode: %v\n%s", err, b.Bytes())
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("re-encoded dump decodes to another value:\n%#v\n%#v", d, d2)
		}
		// The renderers take whatever decodes.
		if err := WriteText(&bytes.Buffer{}, d); err != nil {
			t.Fatal(err)
		}
		if err := WriteHTML(&bytes.Buffer{}, d); err != nil {
			t.Fatal(err)
		}
		if HasStacks(d) {
			if err := WriteProfile(&bytes.Buffer{}, d); err != nil {
				t.Fatal(err)
			}
		}
	})
}
