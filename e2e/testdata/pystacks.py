# Workload for the Python growth stack tests: keep() keeps what it
# allocates in a module-level list, churn() allocates and drops the same
# volume. Modes: big (1 MiB bytearrays, each malloc's own mmap), small
# (pymalloc objects of 512 bytes: arenas of 1 MiB), deep (keep at recursion
# depth DEPTH), corrupt (a frame's previous pointer overwritten, see below).
# Says "ready", waits for "go" on stdin, says "done PID KEEP CHURN" and
# holds its memory until stdin closes.
import ctypes
import os
import sys

kept = []
mode = sys.argv[1]
mib = int(sys.argv[2])


def keep(n, size):
    for _ in range(n):
        if size >= 4096:
            kept.append(bytearray(size))
        else:
            kept.append([bytes(size - 33) for _ in range(64)])


def churn(n, size):
    for _ in range(n):
        if size >= 4096:
            b = bytearray(size)
        else:
            b = [bytes(size - 33) for _ in range(64)]
        del b


def deep(d, n, size):
    if d > 0:
        return deep(d - 1, n, size)
    keep(n, size)


def corrupt(n, size):
    # A frame object's f_frame (offset 24) points at its
    # _PyInterpreterFrame, whose previous pointer lies at offset 48 in
    # 3.11 (internal/python/offsets.go), 8 in 3.13 (its _Py_DebugOffsets);
    # point it at the frame itself: a loop.
    f = sys._getframe()
    iframe = ctypes.c_void_p.from_address(id(f) + 24).value
    prev = ctypes.c_void_p.from_address(iframe + (8 if sys.version_info >= (3, 13) else 48))
    saved = prev.value
    # CORRUPT=garbage: an unmapped address instead.
    prev.value = iframe if os.environ.get("CORRUPT", "loop") == "loop" else 0xDEAD0000
    try:
        keep(n, size)
    finally:
        prev.value = saved


print("ready", flush=True)
sys.stdin.readline()
size = 1 << 20 if mode != "small" else 512
unit = size if size >= 4096 else 64 * size  # bytes per keep or churn step
rounds = mib
for _ in range(rounds):
    n = (1 << 20) // unit
    if mode == "deep":
        deep(int(os.environ.get("DEPTH", "50")), n, size)
    elif mode == "corrupt":
        corrupt(n, size)
    else:
        keep(n, size)
    churn(n, size)
print("done", os.getpid(), rounds * n * unit, rounds * n * unit, flush=True)
sys.stdin.read()
