package native

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxDebugLinkBytes bounds a .gnu_debuglink candidate: its CRC32 is computed
// over the whole file (2 GiB/s from the page cache here), once per parse.
const maxDebugLinkBytes = 1 << 30

// debugFile is a mapped file's separate debug file (symbols, DWARF).
type debugFile struct {
	ef   *elf.File
	fd   *os.File
	path string // for the DWARF load later
}

func (d *debugFile) close() {
	if d != nil {
		d.fd.Close()
	}
}

// findDebugFile finds f's separate debug file as GDB does: by build id under
// /usr/lib/debug/.build-id (whose id must match), else by f's
// .gnu_debuglink name in the mapped file's directory, its .debug/
// subdirectory and /usr/lib/debug/DIR (whose CRC32 must match). The
// debuglink candidates are looked up inside root, the process's root
// directory ("" for ours), with symlinks resolved inside it, then inside
// ours: mapped is the path /proc/PID/maps shows, which is in the process's
// root for a container's own mounts but in ours for a chroot. Nil when none
// is found.
func findDebugFile(f *elf.File, buildID, root, mapped string) *debugFile {
	if len(buildID) > 2 {
		p := "/usr/lib/debug/.build-id/" + buildID[:2] + "/" + buildID[2:] + ".debug"
		if d := openDebug("/", p); d != nil {
			if readBuildID(d.ef) == buildID {
				return d
			}
			d.close()
		}
	}
	name, crc, ok := debugLink(f)
	mapped = strings.TrimSuffix(mapped, " (deleted)")
	if !ok || !path.IsAbs(mapped) {
		return nil
	}
	roots := []string{"/"}
	if root != "" && !sameRoot(root) {
		roots = []string{root, "/"}
	}
	for _, r := range roots {
		for _, p := range debugLinkPaths(path.Dir(mapped), name) {
			d := openDebug(r, p)
			if d == nil {
				continue
			}
			if got, ok := fileCRC(d.fd); ok && got == crc {
				if r != "/" {
					d.path = r + p
				}
				return d
			}
			d.close()
		}
	}
	return nil
}

// debugLinkPaths are GDB's places for a debuglink name, in its order.
func debugLinkPaths(dir, name string) []string {
	return []string{
		path.Join(dir, name),
		path.Join(dir, ".debug", name),
		path.Join("/usr/lib/debug", dir, name),
	}
}

// debugLink reads f's .gnu_debuglink section.
func debugLink(f *elf.File) (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil || s.Type == elf.SHT_NOBITS || s.Size > 4096 {
		return "", 0, false
	}
	b, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	return parseDebugLink(b, f.ByteOrder)
}

// parseDebugLink parses a .gnu_debuglink: a file name (no directory), NUL,
// padding to 4 bytes, and the CRC32 of the debug file.
func parseDebugLink(b []byte, bo binary.ByteOrder) (name string, crc uint32, ok bool) {
	n := bytes.IndexByte(b, 0)
	if n <= 0 {
		return "", 0, false
	}
	name = string(b[:n])
	off := (n + 4) &^ 3
	if off+4 > len(b) || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return "", 0, false
	}
	return name, bo.Uint32(b[off:]), true
}

// openDebug opens p inside root (symlinks cannot leave it, a FIFO cannot
// block) when it is a regular ELF file.
func openDebug(root, p string) *debugFile {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, strings.TrimPrefix(p, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil
	}
	file := os.NewFile(uintptr(fd), p)
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		file.Close()
		return nil
	}
	ef, err := openELF(file, fi.Size())
	if err != nil {
		file.Close()
		return nil
	}
	return &debugFile{ef: ef, fd: file, path: p}
}

// fileCRC is the CRC32 (IEEE, as GDB computes it) of the whole file; false
// when it is unreadable or over maxDebugLinkBytes.
func fileCRC(f *os.File) (uint32, bool) {
	fi, err := f.Stat()
	if err != nil || fi.Size() > maxDebugLinkBytes {
		return 0, false
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return 0, false
	}
	return h.Sum32(), true
}

// sameRoot reports whether root is this process's root directory, so a path
// inside it can be opened later without it.
func sameRoot(root string) bool {
	var a, b unix.Stat_t
	return root == "/" || unix.Stat(root, &a) == nil && unix.Stat("/", &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}
