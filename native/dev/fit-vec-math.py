#!/usr/bin/env python3
"""Fits the polynomial coefficients of native/src/cpu/vec-math.inc (f32 exp, log, tanh, erf/erfc).

Near-minimax fits by Lawson's iteratively reweighted least squares on dense grids, in float64
(mpmath supplies erfc where double underflows). The printed coefficients are rounded to float32;
the kernels' accuracy (max ulp against the std:: functions) is checked by
native/test/vec-math.test.ts, not here.

Forms (x is the reduced argument):
  exp:  e^r = 1 + r + r^2 * P(r),                 r in [-ln2/2, ln2/2]
  log:  log(1+f) = f - f^2/2 + f^3 * P(f),        f in [sqrt(1/2)-1, sqrt(2)-1]
  tanh: tanh(x) = x + x^3 * P(x^2),               |x| < 0.625 (larger |x|: 1 - 2/(e^{2|x|}+1))
  erf:  erf(x) = x * P(x^2),                      |x| < 1
  erfc: erfc(x) = t * exp(-x^2 + P(t)), t = 1/(1 + x/2), x >= 1
        (the functional form of Numerical Recipes' erfcc, Press et al., 3rd ed., §6.2.2)
Usage: python3 native/dev/fit-vec-math.py
"""
import numpy as np
import mpmath

mpmath.mp.dps = 40


def lawson(xs, target, basis, rel=True, iters=200):
    """Coefficients c minimising max |Σ c_k basis_k(x) - target| (relative when rel)."""
    A = np.stack([b(xs) for b in basis], axis=1)
    scale = np.abs(target) if rel else np.ones_like(target)
    w = np.ones_like(xs) / len(xs)
    for _ in range(iters):
        sw = np.sqrt(w) / scale
        c, *_ = np.linalg.lstsq(A * sw[:, None], target * sw, rcond=None)
        err = np.abs(A @ c - target) / scale
        w = w * err
        w /= w.sum()
    return c, np.max(np.abs(A @ c - target) / scale)


def powers(n, start=0):
    return [(lambda k: (lambda x: x ** k))(k) for k in range(start, start + n)]


def show(name, c, err):
    print(f"{name}: max rel err of the fit {err:.3e}")
    print("  " + ", ".join(f"{np.float32(v)!r}f".replace("np.float32(", "").replace(")", "") for v in c))


# exp: P(r) = (e^r - 1 - r) / r^2
r = np.linspace(-np.log(2) / 2, np.log(2) / 2, 20001)
r = r[np.abs(r) > 1e-6]
t = np.array([float((mpmath.exp(v) - 1 - v) / v ** 2) for v in r])
show("exp P(r), degree 4", *lawson(r, t, powers(5)))

# log: P(f) = (log1p(f) - f + f^2/2) / f^3
f = np.linspace(np.sqrt(0.5) - 1, np.sqrt(2) - 1, 20001)
f = f[np.abs(f) > 1e-5]
t = np.array([float((mpmath.log1p(v) - v + v ** 2 / 2) / v ** 3) for v in f])
show("log P(f), degree 8", *lawson(f, t, powers(9)))

# tanh: P(z) = (tanh(x) - x) / x^3, z = x^2
x = np.linspace(1e-4, 0.625, 20001)
t = np.array([float((mpmath.tanh(v) - v) / v ** 3) for v in x])
show("tanh P(x^2), degree 4", *lawson(x * x, t, powers(5)))

# erf: P(z) = erf(x) / x, z = x^2
x = np.linspace(1e-4, 1.0, 20001)
t = np.array([float(mpmath.erf(v) / v) for v in x])
show("erf P(x^2), degree 6", *lawson(x * x, t, powers(7)))

# erfc: P(t) = log(erfc(x) / t) + x^2, t = 1/(1 + x/2); fitted for x in [1, 10]
x = np.linspace(1.0, 10.0, 40001)
tt = 1 / (1 + x / 2)
t = np.array([float(mpmath.log(mpmath.erfc(v) / (1 / (1 + mpmath.mpf(v) / 2))) + mpmath.mpf(v) ** 2) for v in x])
show("erfc P(t), degree 9 (absolute error = relative error of erfc)", *lawson(tt, t, powers(10), rel=False))
