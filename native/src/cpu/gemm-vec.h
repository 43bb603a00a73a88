// The vector type of the built-in GEMM kernels (gemm.cpp, gemm-small.cpp): GCC vector
// extensions at the widest width the build targets (-march=native: 512-bit with AVX-512,
// 256-bit with AVX/AVX2, else 128-bit), for float and double alike. Internal header.
#pragma once

namespace medit::cpu {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kVecRegisters = 32;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kVecRegisters = 16;
#else
constexpr int kVecBytes = 16;
constexpr int kVecRegisters = 16;
#endif

template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(kVecBytes)));
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(kVecBytes)));
};

}  // namespace medit::cpu
