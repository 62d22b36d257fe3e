#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
int main(void) {
#define P(n, e) printf("%-24s %zu\n", n, (size_t)(e))
 P("runtime_tstate_current", offsetof(_PyRuntimeState, gilstate.tstate_current));
 P("tstate_native_thread_id", offsetof(PyThreadState, native_thread_id));
 P("tstate_thread_id", offsetof(PyThreadState, thread_id));
 P("tstate_cframe", offsetof(PyThreadState, cframe));
 P("cframe_current_frame", offsetof(_PyCFrame, current_frame));
 P("frame_f_code", offsetof(_PyInterpreterFrame, f_code));
 P("frame_previous", offsetof(_PyInterpreterFrame, previous));
 P("frame_prev_instr", offsetof(_PyInterpreterFrame, prev_instr));
 P("frame_owner", offsetof(_PyInterpreterFrame, owner));
 P("frame_is_entry", offsetof(_PyInterpreterFrame, is_entry));
 P("code_filename", offsetof(PyCodeObject, co_filename));
 P("code_name", offsetof(PyCodeObject, co_name));
 P("code_qualname", offsetof(PyCodeObject, co_qualname));
 P("code_linetable", offsetof(PyCodeObject, co_linetable));
 P("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
 P("code_firsttraceable", offsetof(PyCodeObject, _co_firsttraceable));
 P("code_code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
 P("ob_type", offsetof(PyObject, ob_type));
 P("bytes_size", offsetof(PyVarObject, ob_size));
 P("bytes_sval", offsetof(PyBytesObject, ob_sval));
 P("unicode_length", offsetof(PyASCIIObject, length));
 P("unicode_state", offsetof(PyASCIIObject, state));
 P("unicode_ascii_size", sizeof(PyASCIIObject));
 P("unicode_compact_size", sizeof(PyCompactUnicodeObject));
 P("frame_owned_by_generator", FRAME_OWNED_BY_GENERATOR);
 return 0;
}
