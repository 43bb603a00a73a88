// Run-time instruction-set dispatch for the float32 vector kernels of vec-math.inc.
//
// vec-math.inc is compiled here three times: under `#pragma GCC target` regions for AVX-512
// (16 lanes) and AVX2+FMA (8 lanes), and as plain C++ (1 lane: the scalar fallback, and the
// only table off x86). This file is built for the baseline instruction set (CMakeLists.txt
// overrides -march for it), so the addon runs the best path the CPU has — found with
// __builtin_cpu_supports at start-up — whatever machine compiled it. MEDIT_SIMD=scalar|avx2|
// avx512 pins a level (an unsupported one falls back to the best) and simd_set_level lets
// tests compare the paths.
//
// Not done here: float64 versions (float64 kernels keep the std:: functions), ARM NEON/SVE
// regions (ARM builds run the scalar table).
#include "vec-math.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace medit::cpu {

#if defined(__x86_64__) || defined(__i386__)
#define MEDIT_VEC_X86 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
namespace avx512 {
#define MEDIT_VEC_WIDTH 16
#include "vec-math.inc"
#undef MEDIT_VEC_WIDTH
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define MEDIT_VEC_WIDTH 8
#include "vec-math.inc"
#undef MEDIT_VEC_WIDTH
}  // namespace avx2
#pragma GCC pop_options
#endif

namespace scalar {
#define MEDIT_VEC_WIDTH 1
#include "vec-math.inc"
#undef MEDIT_VEC_WIDTH
}  // namespace scalar

namespace {

SimdLevel best_level() {
#ifdef MEDIT_VEC_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return SimdLevel::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::AVX2;
#endif
  return SimdLevel::SCALAR;
}

const SimdLevel g_best = best_level();

SimdLevel initial_level() {
  const char* env = std::getenv("MEDIT_SIMD");
  if (env == nullptr || *env == '\0') return g_best;
  try {
    const SimdLevel want = simd_level_from_name(env);
    return want <= g_best ? want : g_best;
  } catch (const Error&) {
    return g_best;
  }
}

const VecKernels* table_of(SimdLevel level) {
  switch (level) {
#ifdef MEDIT_VEC_X86
    case SimdLevel::AVX512: return &avx512::kTable;
    case SimdLevel::AVX2: return &avx2::kTable;
#endif
    default: return &scalar::kTable;
  }
}

std::atomic<SimdLevel> g_level{initial_level()};
std::atomic<const VecKernels*> g_table{table_of(g_level.load())};

}  // namespace

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::SCALAR: return "scalar";
    case SimdLevel::AVX2: return "avx2";
    case SimdLevel::AVX512: return "avx512";
  }
  return "scalar";
}

SimdLevel simd_level_from_name(const char* name) {
  if (std::strcmp(name, "scalar") == 0) return SimdLevel::SCALAR;
  if (std::strcmp(name, "avx2") == 0) return SimdLevel::AVX2;
  if (std::strcmp(name, "avx512") == 0) return SimdLevel::AVX512;
  MEDIT_THROW(ARG, std::string("simd: unknown level \"") + name + "\" (known: scalar, avx2, avx512)");
}

bool simd_supported(SimdLevel level) { return level <= g_best; }

SimdLevel simd_level() { return g_level.load(); }

void simd_set_level(SimdLevel level) {
  MEDIT_THROW_IF(!simd_supported(level), DEVICE,
                 std::string("simd: this CPU cannot run the ") + simd_level_name(level) + " kernels (best: " +
                     simd_level_name(g_best) + ")");
  g_level.store(level);
  g_table.store(table_of(level));
}

const VecKernels& vec() { return *g_table.load(std::memory_order_relaxed); }

const VecKernels& vec_at(SimdLevel level) {
  MEDIT_THROW_IF(!simd_supported(level), DEVICE,
                 std::string("simd: this CPU cannot run the ") + simd_level_name(level) + " kernels");
  return *table_of(level);
}

}  // namespace medit::cpu
