package kmsg

import "testing"

func TestParseRecord(t *testing.T) {
	cases := []struct {
		raw  string
		want Record
		err  bool
	}{
		{"6,339,1221116,-;tokio-rt-worker (70): drop_caches: 3\n",
			Record{6, 339, 1221116, "tokio-rt-worker (70): drop_caches: 3"}, false},
		// Dictionary lines follow the message; a caller field may follow the flags.
		{"5,337,1204008,-;virtio_blk virtio1: [vda] new size\n SUBSYSTEM=virtio\n DEVICE=+virtio:virtio1\n",
			Record{5, 337, 1204008, "virtio_blk virtio1: [vda] new size"}, false},
		{"4,12,34,c,caller=T42;a;b=c", Record{4, 12, 34, "a;b=c"}, false},
		// Escapes are undone; broken ones are kept.
		{`4,284,374833,-;amd_pstate: supported.\x0aPlease enable`, Record{4, 284, 374833, "amd_pstate: supported.\nPlease enable"}, false},
		{`3,1,2,-;a\x5cb \xZZ \x4`, Record{3, 1, 2, `a\b \xZZ \x4`}, false},
		{"0,0,0,-;", Record{}, false},
		{"6,1,2,-", Record{}, true},
		{"6,1,2;msg", Record{}, true},
		{"x,1,2,-;msg", Record{}, true},
		{"-1,1,2,-;msg", Record{}, true},
		{"6,-1,2,-;msg", Record{}, true},
		{"6,1,2.5,-;msg", Record{}, true},
		{"", Record{}, true},
	}
	for _, c := range cases {
		got, err := ParseRecord(c.raw)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseRecord(%q) = %+v, %v", c.raw, got, err)
		}
	}
}
