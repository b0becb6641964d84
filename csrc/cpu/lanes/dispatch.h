// One dispatch entry per lane-kernel family, as PyTorch's DispatchStub (aten/src/ATen/native/DispatchStub.h and
// aten/src/ATen/native/cpu/README.md): a family header declares its small table of kernels with
// SPECDIFF_DECLARE_LANES(Table, name); each per-ISA translation unit (lanes/isa_<isa>.cpp) compiles the family's
// code for its instruction set and defines the tables name##_float and name##_double, fields assigned by name;
// name<T>() (lanes/dispatch.cpp) returns the table of the active ISA (common/cpu_isa.h).
#pragma once

#define SPECDIFF_DECLARE_LANES_FOR_ISA(isa, Table, name) \
  namespace isa {                                        \
  extern const Table<float> name##_float;                \
  extern const Table<double> name##_double;              \
  }

#define SPECDIFF_DECLARE_LANES(Table, name)               \
  SPECDIFF_DECLARE_LANES_FOR_ISA(isa_base, Table, name)   \
  SPECDIFF_DECLARE_LANES_FOR_ISA(isa_avx2, Table, name)   \
  SPECDIFF_DECLARE_LANES_FOR_ISA(isa_avx512, Table, name) \
  template <typename T>                                   \
  const Table<T>& name();
