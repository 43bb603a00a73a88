/** Tolerances for comparisons, keyed by dtype and what is compared (STYLE.md §7). */
export const TOLERANCES = {
  /** f64 finite differences vs analytic gradients (central differences, eps below) */
  gradcheckF64: { atol: 1e-7, rtol: 1e-6, eps: 1e-6 },
  /** f32 CPU vs closed-form values */
  f32Closed: { atol: 1e-5, rtol: 1e-5 },
  /** f32 logits vs Hugging Face reference dumps */
  f32Parity: { atol: 1e-4, rtol: 0 },
} as const;
