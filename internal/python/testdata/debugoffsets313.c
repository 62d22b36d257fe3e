/* CPython 3.13's _Py_DebugOffsets and the offsets it does not give, from
 * trixie's libpython3.13-dev headers (internal/python/debugoffsets.go):
 *
 *	apt-get download libpython3.13-dev && dpkg -x libpython3.13-dev_*.deb /tmp/d
 *	gcc -I/tmp/d/usr/include/python3.13 -I/tmp/d/usr/include/x86_64-linux-gnu/python3.13 \
 *	    internal/python/testdata/debugoffsets313.c -o /tmp/off && /tmp/off
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
int main(void) {
#define P(n, e) printf("%-32s %zu\n", n, (size_t)(e))
#define W(f) P("word " #f, (offsetof(_Py_DebugOffsets, f) - 8) / 8)
 W(version); W(free_threaded);
 W(runtime_state.size); W(runtime_state.interpreters_head);
 W(interpreter_state.size); W(interpreter_state.threads_head);
 W(thread_state.size); W(thread_state.next); W(thread_state.current_frame);
 W(thread_state.native_thread_id);
 W(interpreter_frame.size); W(interpreter_frame.previous); W(interpreter_frame.executable);
 W(interpreter_frame.instr_ptr); W(interpreter_frame.owner);
 W(code_object.size); W(code_object.filename); W(code_object.qualname);
 W(code_object.linetable); W(code_object.firstlineno); W(code_object.co_code_adaptive);
 W(pyobject.size); W(pyobject.ob_type);
 W(bytes_object.size); W(bytes_object.ob_size); W(bytes_object.ob_sval);
 W(unicode_object.size); W(unicode_object.state); W(unicode_object.length);
 W(unicode_object.asciiobject_size);
 P("debug offsets size", sizeof(_Py_DebugOffsets));
 P("code_firsttraceable", offsetof(PyCodeObject, _co_firsttraceable));
 P("code_code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
 P("bytes_size", offsetof(PyVarObject, ob_size));
 P("bytes_sval", offsetof(PyBytesObject, ob_sval));
 P("unicode_ascii_size", sizeof(PyASCIIObject));
 P("unicode_compact_size", sizeof(PyCompactUnicodeObject));
 P("frame_owned_by_generator", FRAME_OWNED_BY_GENERATOR);
 P("frame_owned_by_cstack", FRAME_OWNED_BY_CSTACK);
 P("tstate_native_thread_id", offsetof(PyThreadState, native_thread_id));
 P("tstate_current_frame", offsetof(PyThreadState, current_frame));
 P("frame_executable", offsetof(_PyInterpreterFrame, f_executable));
 P("frame_instr_ptr", offsetof(_PyInterpreterFrame, instr_ptr));
 P("frame_owner", offsetof(_PyInterpreterFrame, owner));
 return 0;
}
