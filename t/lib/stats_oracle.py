#!/usr/bin/python3
"""The statistics the stats location must report, computed here with
SciPy (Debian's python3-scipy), independently of the module's C code:
normal and Beta distributions from scipy.stats, the Bayesian figures by
numerical integration (scipy.integrate.quad) rather than the closed-form
sums the module uses, the sequential figures from the formulas of
Waudby-Smith et al. (2023) written again here.  (The integrands use the
scipy.special functions that scipy.stats.beta wraps, for speed.)

    stats_oracle.py serve
        one JSON table a line on stdin, its figures a line on stdout:
        {"n": [...], "x": [...], "control": i, "sequential": true,
         "tuning": 5000, "alpha": 0.05, "mde": 0.1}
        -> {"groups": [{"rate": ..., ...}, ...],
            "sample_size": {"per_group": ..., "unrounded": ...,
                            "reached": ...}}
    stats_oracle.py coverage [experiments] [seed]
        A/A experiments looked at after every 100 devices: the share ever
        declared significant by the sequential p-value (JSON on stdout)
"""

import json
import math
import sys

import numpy as np
from scipy import integrate, special, stats

Z95 = stats.norm.ppf(0.975)


def rho2(alpha, tuning):
    # eq. 161 of Waudby-Smith et al., arXiv:2103.06476: the mixing
    # variance that makes the sequence tightest at N* observations
    l = -2 * np.log(alpha)
    return (l + np.log(l + 1)) / tuning


def sequential_p(d, var, n, alpha, tuning):
    """The always-valid p-value (eq. 155): 1 over the normal mixture
    martingale, in logs; numpy arrays welcome."""
    r2 = rho2(alpha, tuning)
    grow = n * r2 + 1
    log_p = 0.5 * np.log(grow) - r2 * n * (d * d / var) / (2 * grow)
    return np.exp(np.minimum(log_p, 0))


def sequential_halfwidth(var, n, alpha, tuning):
    r2 = rho2(alpha, tuning)
    grow = n * r2 + 1
    s = np.sqrt(var * n)
    return s * np.sqrt(2 * grow / (n * n * r2)
                       * np.log(np.sqrt(grow) / alpha))


# the Beta density and distribution functions from scipy.special, the
# ufuncs scipy.stats.beta wraps, without its checks on every call: quad
# calls them thousands of times per figure
def beta_pdf(t, a, b):
    return np.exp((a - 1) * np.log(t) + (b - 1) * np.log1p(-t)
                  - special.betaln(a, b))


def beta_cdf(t, a, b):
    return special.betainc(a, b, t)


def beta_sf(t, a, b):
    return special.betainc(b, a, 1 - t)


def support(a, b):
    """Where Beta(a, b) has all but 2e-16 of its mass."""
    return stats.beta.ppf(1e-16, a, b), stats.beta.isf(1e-16, a, b)


def beats(a1, b1, a2, b2):
    """P(X1 > X2), X ~ Beta: the integral of f1 F2 over where X1 lives."""
    lo, hi = support(a1, b1)
    points = [p for p in (a1 / (a1 + b1), a2 / (a2 + b2)) if lo < p < hi]
    v, _ = integrate.quad(lambda t: beta_pdf(t, a1, b1)
                          * beta_cdf(t, a2, b2),
                          lo, hi, points=points, epsabs=1e-13,
                          epsrel=1e-12, limit=1000)
    return v


def loss(a, b, ac, bc):
    """E[max(pc - p, 0)]: the integral over p's posterior of
    E[max(pc - t, 0)] = E[pc; pc > t] - t P(pc > t)."""
    mc = ac / (ac + bc)
    lo, hi = support(a, b)
    points = [p for p in (a / (a + b), mc) if lo < p < hi]

    def inner(t):
        return mc * beta_sf(t, ac + 1, bc) - t * beta_sf(t, ac, bc)

    v, _ = integrate.quad(lambda t: beta_pdf(t, a, b) * inner(t),
                          lo, hi, points=points, epsabs=1e-14,
                          epsrel=1e-12, limit=1000)
    return max(v, 0.0)


def credible(a, b, ac, bc):
    """GrowthBook's Bayesian credible interval of the relative uplift:
    log(p / pc) normal, with the log-Beta moments."""
    mean = (special.digamma(a) - special.digamma(a + b)
            - special.digamma(ac) + special.digamma(ac + bc))
    var = (special.polygamma(1, a) - special.polygamma(1, a + b)
           + special.polygamma(1, ac) - special.polygamma(1, ac + bc))
    q = stats.norm.ppf([0.025, 0.975], mean, math.sqrt(var))
    return [float(v) for v in np.expm1(q)]


def holm(ps):
    """Holm's step-down adjustment of {group: p}."""
    order = sorted(ps, key=lambda g: (ps[g], g))
    m = len(order)
    out = {}
    running = 0.0
    for rank, g in enumerate(order):
        running = max(running, (m - rank) * ps[g])
        out[g] = min(1.0, running)
    return out


def sample_size(pc, mde, alpha, power=0.8):
    """Fleiss (1981) without continuity correction: devices per group."""
    if pc is None or not 0 < pc <= 1:
        return None
    p2 = pc * (1 + mde)
    if p2 > 1:
        return None
    pm = (pc + p2) / 2
    za = stats.norm.isf(alpha / 2)
    zb = stats.norm.ppf(power)
    s = (za * math.sqrt(2 * pm * (1 - pm))
         + zb * math.sqrt(pc * (1 - pc) + p2 * (1 - p2)))
    return s * s / (p2 - pc) ** 2


def table(t):
    n, x, c = t["n"], t["x"], t["control"]
    k = len(n)
    alpha, tuning = t.get("alpha", 0.05), t.get("tuning", 5000)
    nc, xc = n[c], x[c]
    pc = xc / nc if nc else None
    cprop = nc > 0 and xc <= nc
    groups = []

    for g in range(k):
        f = dict.fromkeys(("rate", "error", "ci95", "uplift", "uplift_ci95",
                           "p_value", "p_value_holm", "p_value_sequential",
                           "p_value_sequential_holm", "ci95_sequential",
                           "uplift_ci95_sequential", "uplift_credible95",
                           "chance_to_beat_control", "expected_loss"))
        groups.append(f)
        p = x[g] / n[g] if n[g] else None
        prop = n[g] > 0 and x[g] <= n[g]
        f["rate"] = p
        if prop:
            se = math.sqrt(p * (1 - p) / n[g])
            f["error"] = 2 * se
            f["ci95"] = [max(0.0, p - Z95 * se), min(1.0, p + Z95 * se)]
        if g == c:
            continue
        if n[g] and xc and nc:
            f["uplift"] = (p - pc) / pc
        if not (prop and cprop):
            continue

        pooled = (x[g] + xc) / (n[g] + nc)
        if 0 < pooled < 1:
            z = (p - pc) / math.sqrt(pooled * (1 - pooled)
                                     * (1 / n[g] + 1 / nc))
            f["p_value"] = 2 * stats.norm.sf(abs(z))

        if xc:
            var = (p * (1 - p) / (n[g] * pc ** 2)
                   + pc * (1 - pc) * p ** 2 / (nc * pc ** 4))
            if var > 0:
                h = Z95 * math.sqrt(var)
                f["uplift_ci95"] = [f["uplift"] - h, f["uplift"] + h]
                if t.get("sequential", True):
                    h = float(sequential_halfwidth(var, n[g] + nc, 0.05,
                                                   tuning))
                    f["uplift_ci95_sequential"] = [f["uplift"] - h,
                                                   f["uplift"] + h]

        var = p * (1 - p) / n[g] + pc * (1 - pc) / nc
        if t.get("sequential", True) and var > 0:
            tot = n[g] + nc
            d = p - pc
            f["p_value_sequential"] = float(
                sequential_p(d, var, tot, alpha, tuning))
            h = float(sequential_halfwidth(var, tot, 0.05, tuning))
            f["ci95_sequential"] = [d - h, d + h]

        a, b = 1 + x[g], 1 + n[g] - x[g]
        ac, bc = 1 + xc, 1 + nc - xc
        f["chance_to_beat_control"] = beats(a, b, ac, bc)
        f["expected_loss"] = loss(a, b, ac, bc)
        f["uplift_credible95"] = credible(a, b, ac, bc)

    if k > 2:
        for src, dst in (("p_value", "p_value_holm"),
                         ("p_value_sequential", "p_value_sequential_holm")):
            ps = {g: groups[g][src] for g in range(k)
                  if g != c and groups[g][src] is not None}
            for g, v in holm(ps).items():
                groups[g][dst] = v

    raw = sample_size(pc if cprop else None, t.get("mde", 0.1), alpha)
    plan = {"unrounded": raw, "per_group": None, "reached": None}
    if raw is not None:
        plan["per_group"] = math.ceil(raw)
        plan["reached"] = min(n) / plan["per_group"]

    return {"groups": groups, "sample_size": plan}


def coverage(experiments=20000, seed=20261201, rates=(0.02, 0.1, 0.5),
             looks=100, step=100, alpha=0.05, tuning=5000):
    """A/A experiments: devices split at random in two groups of the same
    rate, looked at after every `step` devices; the share in which the
    sequential p-value fell below alpha at any look."""
    rng = np.random.default_rng(seed)
    out = {}
    for rate in rates:
        # per look: the devices of A (of `step`), then conversions of each
        na = rng.binomial(step, 0.5, size=(experiments, looks))
        nb = step - na
        xa = rng.binomial(na, rate)
        xb = rng.binomial(nb, rate)
        na, nb = na.cumsum(1), nb.cumsum(1)
        xa, xb = xa.cumsum(1), xb.cumsum(1)
        pa, pb = xa / na, xb / nb
        var = pa * (1 - pa) / na + pb * (1 - pb) / nb
        with np.errstate(divide="ignore", invalid="ignore"):
            p = sequential_p(pb - pa, var, na + nb, alpha, tuning)
        p = np.where(var > 0, p, 1.0)
        fixed = 2 * stats.norm.sf(np.abs(pb - pa) / np.sqrt(
            np.where(var > 0, var, np.inf)))
        out[str(rate)] = {
            "sequential": float((p < alpha).any(1).mean()),
            "fixed_horizon": float((fixed < alpha).any(1).mean()),
        }
    return {"experiments": experiments, "looks": looks, "step": step,
            "alpha": alpha, "tuning": tuning, "share": out}


def main():
    if sys.argv[1:2] == ["coverage"]:
        args = [int(a) for a in sys.argv[2:4]]
        print(json.dumps(coverage(*args)))
        return
    for line in sys.stdin:
        print(json.dumps(table(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
