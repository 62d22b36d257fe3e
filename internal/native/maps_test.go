package native

import "testing"

func TestParseMaps(t *testing.T) {
	text := "" +
		"55d0c0000000-55d0c0001000 r--p 00000000 fd:01 1234                       /usr/bin/my prog (deleted)\n" +
		"55d0c0001000-55d0c0002000 r-xp 00001000 fd:01 1234                       /usr/bin/my prog (deleted)\n" +
		"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n" +
		"garbage line\n" +
		"10-5 r-xp 0 00:00 0 backwards\n" +
		"7ffd00010000-7ffd00011000 r-xp 00000000 00:00 0                          overlap\n" +
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]"
	ms := parseMaps([]byte(text), 100)
	if len(ms) != 4 {
		t.Fatalf("got %d mappings: %+v", len(ms), ms)
	}
	m := ms[1]
	if m.start != 0x55d0c0001000 || m.off != 0x1000 || !m.exec || m.inode != 1234 || m.path != "/usr/bin/my prog (deleted)" || !m.fileBacked() {
		t.Errorf("exec mapping %+v", m)
	}
	if ms[2].path != "[stack]" || ms[2].fileBacked() || ms[2].exec {
		t.Errorf("stack %+v", ms[2])
	}
	if findMapping(ms, 0x55d0c0001fff) != &ms[1] || findMapping(ms, 0x55d0c0002000) != nil {
		t.Errorf("findMapping at the edges")
	}
	if got := parseMaps([]byte(text), 2); len(got) != 2 {
		t.Errorf("line cap 2 gave %d", len(got))
	}
}
