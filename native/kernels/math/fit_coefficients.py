#!/usr/bin/env python3
"""Fits the polynomial coefficients used by native/kernels/math/*.h.

Dev tool, not part of the build (needs numpy and mpmath). Each fit is a discrete
minimax (linear program) of the relative error on a dense grid, followed by rounding
the coefficients to float32 one at a time from the lowest order up, re-fitting the
rest after each rounding so the rounding error is absorbed by the higher terms.
The printed error is the fit error in exact arithmetic; the float32 evaluation error
is measured by native/kernels/math/vmath_test.cc and test/ops/pointwise_accuracy.test.ts.

  python3 native/kernels/math/fit_coefficients.py
"""
import numpy as np
import mpmath as mp

mp.mp.dps = 40


def f32(x):
    return float(np.float32(x))


def minimax(xs, target, basis, weight, iters=400):
    """min_c max_i |weight_i * (target_i - sum_k c_k basis_k(x_i))| by Lawson's algorithm
    (iteratively reweighted least squares); converges to the discrete minimax solution."""
    A = np.array([[b(x) for b in basis] for x in xs]) * np.array(weight)[:, None]
    t = np.array(target) * np.array(weight)
    scale = np.max(np.abs(A), axis=0)  # column scaling for conditioning
    A = A / scale
    u = np.full(len(xs), 1.0 / len(xs))
    c = None
    for _ in range(iters):
        sw = np.sqrt(u)
        c, *_ = np.linalg.lstsq(A * sw[:, None], t * sw, rcond=None)
        r = np.abs(t - A @ c)
        u = u * r
        s = u.sum()
        if s == 0:
            break
        u /= s
    err = np.max(np.abs(t - A @ c))
    return c / scale, err


def fit_rounded(xs, target, basis, weight):
    """Minimax fit, then round coefficients to float32 one by one, re-fitting the rest."""
    fixed = []
    target = np.array(target, dtype=float)
    for k in range(len(basis)):
        rest = basis[k:]
        resid = target - sum(c * np.array([b(x) for x in xs]) for c, b in zip(fixed, basis[:k])) if fixed else target
        c, err = minimax(xs, resid, rest, weight)
        fixed.append(f32(c[0]))
    resid = target - sum(c * np.array([b(x) for x in xs]) for c, b in zip(fixed, basis))
    err = np.max(np.abs(resid * np.array(weight)))
    return fixed, err


def grid(lo, hi, n=3000):
    # Chebyshev-distributed points plus the end points
    k = np.arange(n)
    pts = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / n)
    return sorted(set([lo, hi, *pts.tolist()]))


def show(name, coeffs, err):
    print(f'{name}: rel err {err:.3e} ({err / 2**-24:.3f} ulp of 1)')
    for c in coeffs:
        print(f'    {np.float32(c).item():.9e}f,  // {float.hex(float(np.float32(c)))}')


def fit_exp(deg):
    h = float(mp.log(2)) / 2 * 1.0005
    xs = grid(-h, h)
    target = [float(mp.exp(x) - 1 - x) for x in xs]
    basis = [lambda x, k=k: x * x * x**k for k in range(deg)]
    weight = [float(1 / mp.exp(x)) for x in xs]
    show(f'exp: e^r = 1 + r + r^2*P(r), deg P = {deg - 1}', *fit_rounded(xs, target, basis, weight))


def fit_expm1(deg):
    # e^r - 1 with relative accuracy (tanh's numerator): the exp fit above is relative to
    # e^r ~ 1, too coarse once e^r - 1 is small
    h = float(mp.log(2)) / 2 * 1.0005
    xs = [x for x in grid(-h, h) if abs(x) > 1e-9]
    target = [float(mp.expm1(x) - x) for x in xs]
    basis = [lambda x, k=k: x * x * x**k for k in range(deg)]
    weight = [float(1 / abs(mp.expm1(x))) for x in xs]
    show(f'expm1: e^r - 1 = r + r^2*P(r), deg P = {deg - 1}', *fit_rounded(xs, target, basis, weight))


def fit_log1p(deg):
    xs = [x for x in grid(-1 / 3 * 1.0005, 1 / 3 * 1.0005) if abs(x) > 1e-9]
    target = [float(mp.log1p(x) - x) for x in xs]
    basis = [lambda x, k=k: x * x * x**k for k in range(deg)]
    weight = [float(1 / abs(mp.log1p(x))) for x in xs]
    show(f'log1p: f + f^2*Q(f), deg Q = {deg - 1}', *fit_rounded(xs, target, basis, weight))


def fit_erf_small(deg, S):
    # erf(x) = x*C0 + x*(c0lo + x^2*P(x^2)) with C0 = float(2/sqrt(pi)): the split keeps the
    # leading coefficient's rounding error (up to 0.5 ulp) out of the result.
    c0hi = f32(2 / mp.sqrt(mp.pi))
    xs = [x for x in grid(0, S) if x > 1e-9]
    target = [float(mp.erf(x) - c0hi * mp.mpf(x)) for x in xs]
    basis = [lambda x, k=k: x * x**(2 * k) for k in range(deg)]
    weight = [float(1 / mp.erf(x)) for x in xs]
    coeffs, err = fit_rounded(xs, target, basis, weight)
    show(f'erf |x|<{S}: x*C0 + x*(c0lo + x^2*P(x^2)), C0 = {c0hi!r}, deg P = {deg - 2}', coeffs, err)


def fit_erfcx(deg, lo, hi, a):
    # erfcx(z) = exp(z^2) erfc(z) ~= t * P(t), t = 1 / (1 + a z)
    xs = grid(lo, hi)
    target = [float(mp.exp(x * x) * mp.erfc(x)) for x in xs]
    basis = [lambda x, k=k: (1 / (1 + a * x))**(k + 1) for k in range(deg)]
    weight = [1 / t for t in target]
    show(f'erfcx on [{lo}, {hi}]: t*P(t), t = 1/(1+{a}z), deg P = {deg - 1}', *fit_rounded(xs, target, basis, weight))


def c_float(v):
    """float32 value as a C hex-float literal"""
    f = float(np.float32(v))
    if f == 0:
        return '0.0f'
    mant, exp = f.hex().split('p')
    mant = mant.rstrip('0').rstrip('.')
    return f'{mant}p{exp}f'


def fit_phi_pieces(deg, lo=-3.0, width=0.5, pieces=16):
    # Phi(x) = P_i(x - c_i) on pieces of [lo, lo + pieces * width), c_i the centres, fitted
    # for relative accuracy; the last piece extends one more width (Phi rounds to 1 at its
    # end). Prints the table of native/kernels/math/gelu_phi_table.h.
    table = []
    worst = 0
    for i in range(pieces):
        c = lo + width * i + width / 2
        hi = width / 2 if i < pieces - 1 else width * 1.5
        xs = grid(-width / 2, hi, 400)
        target = [float(mp.ncdf(c + s)) for s in xs]
        basis = [lambda s, k=k: s**k for k in range(deg + 1)]
        coeffs, err = fit_rounded(xs, target, basis, [1 / t for t in target])
        worst = max(worst, err)
        table.append(coeffs)
    print(f'// Phi pieces: {pieces} x degree {deg} on [{lo}, {lo + pieces * width}), max rel fit err {worst:.3e}')
    print(f'alignas(64) constexpr float kGeluPhiCentres[{pieces}] = {{')
    centres = [c_float(lo + width * i + width / 2) for i in range(pieces)]
    print('    ' + ', '.join(centres) + '};')
    print(f'alignas(64) constexpr float kGeluPhiPoly[{deg + 1}][{pieces}] = {{')
    for k in range(deg + 1):
        vals = [c_float(row[k]) for row in table]
        print('    {' + ', '.join(vals[:8]) + ',')
        print('     ' + ', '.join(vals[8:]) + '},')
    print('};')


def fit_sin(deg):
    xs = [x for x in grid(0, float(mp.pi) / 4 * 1.0005) if x > 1e-9]
    target = [float(mp.sin(x) - x) for x in xs]
    basis = [lambda x, k=k: x**3 * x**(2 * k) for k in range(deg)]
    weight = [float(1 / mp.sin(x)) for x in xs]
    show(f'sin: r + r^3*S(r^2), deg S = {deg - 1}', *fit_rounded(xs, target, basis, weight))


def fit_cos(deg):
    xs = grid(0, float(mp.pi) / 4 * 1.0005)
    target = [float(mp.cos(x) - 1 + x * x / 2) for x in xs]
    basis = [lambda x, k=k: x**4 * x**(2 * k) for k in range(deg)]
    weight = [float(1 / mp.cos(x)) for x in xs]
    show(f'cos: 1 - r^2/2 + r^4*C(r^2), deg C = {deg - 1}', *fit_rounded(xs, target, basis, weight))


if __name__ == '__main__':
    import sys
    which = sys.argv[1:] or ['exp', 'expm1', 'log', 'erf', 'erfcx', 'phi', 'sin', 'cos']
    # the configurations used in the headers
    if 'exp' in which:
        fit_exp(5)
    if 'log' in which:
        fit_log1p(10)
    if 'expm1' in which:
        fit_expm1(5)
    if 'erf' in which:
        fit_erf_small(8, 1.0)
    if 'erfcx' in which:
        fit_erfcx(11, 0.0, 10.5, 0.5)
    if 'phi' in which:
        fit_phi_pieces(6)
    if 'sin' in which:
        fit_sin(4)
    if 'cos' in which:
        fit_cos(4)
