/**
 * Always-valid sequential tests for the judge.
 *
 * Each test is a one-sided mixture sequential probability ratio test (mSPRT,
 * Johari et al., "Always Valid Inference", 2017/2022) on an estimate that is
 * approximately normal: the likelihood ratio against the boundary value θ0 is
 * mixed over a half-normal prior of scale τ on the side of the alternative.
 * The mixture is a nonnegative supermartingale under the null, so by Ville's
 * inequality P(Λ ever ≥ 1/α) ≤ α however often the data is looked at: the
 * workflow may consult the judge every minute of a bake, and extend the bake,
 * without inflating the error rate. 1/Λ is an always-valid p-value and Λ an
 * e-value.
 */

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Complementary error function; fractional error below 1.2e-7 everywhere (Numerical Recipes, erfcc). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** log Φ(z), accurate far into the lower tail (Mills-ratio asymptote below −30). */
function logNormalCdf(z: number): number {
  if (z > -30) return Math.log(normalCdf(z));
  return -0.5 * z * z - Math.log(-z) - LOG_SQRT_2PI;
}

/**
 * log Λ for H0: θ ≤ θ0 against θ > θ0, given the estimate's distance above
 * the boundary `excess = θ̂ − θ0`, its variance `variance`, and the mixture
 * scale `tau` (the size of effect the test is tuned to find quickly).
 * For H0: θ ≥ θ0 pass `θ0 − θ̂` as the excess.
 */
function logMixtureRatio(excess: number, variance: number, tau: number): number {
  if (!(variance > 0)) throw new Error(`variance must be positive, got ${variance}`);
  const t2 = tau * tau;
  const total = variance + t2;
  return (
    Math.LN2 +
    0.5 * Math.log(variance / total) +
    (excess * excess * t2) / (2 * variance * total) +
    logNormalCdf((excess * tau) / Math.sqrt(variance * total))
  );
}

/** The always-valid p-value 1/Λ, capped at 1. */
export function alwaysValidP(logRatio: number): number {
  return Math.min(1, Math.exp(-logRatio));
}

/**
 * A family of one-sided tests indexed by the boundary θ0, as for a proportion
 * whose variance depends on θ0. `logRatioAbove(θ0)` is log Λ for H0: θ ≤ θ0
 * and decreases as θ0 grows; `logRatioBelow(θ0)` for H0: θ ≥ θ0 increases.
 */
export interface TestFamily {
  logRatioAbove(theta0: number, tau: number): number;
  logRatioBelow(theta0: number, tau: number): number;
  /** The range θ can take, where bisection for the bounds happens. */
  min: number;
  max: number;
}

/**
 * The confidence-sequence bounds: the boundary values that the tests at
 * level α reject. `lower` is the largest θ0 with H0: θ ≤ θ0 rejected (or
 * `min` if none is), `upper` the smallest θ0 with H0: θ ≥ θ0 rejected (or `max`).
 */
export function confidenceBounds(
  family: TestFamily,
  alpha: number,
  tau: number,
): { lower: number; upper: number } {
  const threshold = Math.log(1 / alpha);
  const bisect = (
    rejected: (x: number) => boolean,
    lo: number,
    hi: number,
    rejectedAtLo: boolean,
  ): number => {
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (rejected(mid) === rejectedAtLo) lo = mid;
      else hi = mid;
    }
    return rejectedAtLo ? lo : hi;
  };
  const rejectAbove = (x: number) => family.logRatioAbove(x, tau) >= threshold;
  const rejectBelow = (x: number) => family.logRatioBelow(x, tau) >= threshold;
  const lower = rejectAbove(family.min) ? bisect(rejectAbove, family.min, family.max, true) : family.min;
  const upper = rejectBelow(family.max) ? bisect(rejectBelow, family.min, family.max, false) : family.max;
  return { lower, upper };
}

/**
 * One proportion, k of n (k may be fractional when it comes from
 * interpolating a histogram). The variance is taken under the null,
 * θ0(1−θ0)/n, as in the score (Wilson) test: it stays sensible with zero or
 * a handful of events, which is where sparse error counts live.
 */
export function proportionFamily(k: number, n: number): TestFamily {
  const estimate = n > 0 ? k / n : 0;
  const variance = (theta0: number) => Math.max(theta0 * (1 - theta0), 1e-12) / n;
  return {
    logRatioAbove: (t, tau) => logMixtureRatio(estimate - t, variance(t), tau),
    logRatioBelow: (t, tau) => logMixtureRatio(t - estimate, variance(t), tau),
    min: 0,
    max: 1,
  };
}

/**
 * The difference of two proportions, a/n − b/m. The variance uses the
 * Agresti–Caffo adjustment (one event and one non-event added to each
 * sample), which keeps it positive and honest with sparse counts.
 */
export function differenceFamily(a: number, n: number, b: number, m: number): TestFamily {
  const estimate = a / n - b / m;
  const pa = (a + 1) / (n + 2);
  const pb = (b + 1) / (m + 2);
  const variance = (pa * (1 - pa)) / (n + 2) + (pb * (1 - pb)) / (m + 2);
  return {
    logRatioAbove: (t, tau) => logMixtureRatio(estimate - t, variance, tau),
    logRatioBelow: (t, tau) => logMixtureRatio(t - estimate, variance, tau),
    min: -1,
    max: 1,
  };
}
