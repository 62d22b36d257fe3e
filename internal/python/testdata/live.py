# For internal/python's tests: prints the code objects to read as
# "code ID QUALNAME FILENAME FIRSTLINE" (JSON strings), then each one's line
# table and the line CPython gives each code unit (co_positions) as
# "lines ID FIRSTLINE HEX LINE,LINE,...", then "ready", and waits.
import json
import sys


class Outer:
    def inner(self):
        return [x for x in range(3)]


def naïve_ü():
    pass


long = (lambda: None).__code__.replace(co_qualname="q" * 10000, co_name="q")
weird = compile("def f():\n    return 1\n", "fïle🙂\x1b[31m.py", "exec")
wf = [c for c in weird.co_consts if hasattr(c, "co_code")][0]
codes = [Outer.inner.__code__, naïve_ü.__code__, long, wf]
for c in codes:
    print("code", id(c), json.dumps(c.co_qualname), json.dumps(c.co_filename), c.co_firstlineno)
print("notcode", id(codes))
# Line tables of code with many shapes of entry: the stdlib's json
# decoder, this file's functions.
import json.decoder
tables = [json.decoder.py_scanstring.__code__, json.decoder.JSONObject.__code__,
          Outer.inner.__code__, json.decoder.JSONDecoder.raw_decode.__code__]
for c in tables:
    lines = [p[0] if p[0] is not None else 0 for p in c.co_positions()]
    print("lines", id(c), c.co_firstlineno, c.co_linetable.hex(), ",".join(map(str, lines)))


def waiting():
    print("ready", flush=True)
    sys.stdin.read()  # the line where the main thread waits


waiting()
