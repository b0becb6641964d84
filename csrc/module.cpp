// The Python module specdiff._C. Importing it runs the static TORCH_LIBRARY registrations of every
// op; nothing is bound through Python.h, so the extension uses the stable limited API.
#include <Python.h>

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}
