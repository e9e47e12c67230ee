// Welch's unequal-variance t-test and the Student t distribution it needs. Written out here because the
// p-value is what a promotion or rollback decision is explained with: it must be right in the tails,
// not only near the centre, so the CDF goes through the regularised incomplete beta function (a
// continued fraction, as in Numerical Recipes §6.4) rather than a rough approximation.

/** Running mean and variance (Welford), cheap enough to update on every request. */
export class Welford {
  n = 0;
  mean = 0;
  /** Sum of squared deviations from the mean. */
  m2 = 0;

  add(x: number): void {
    this.n += 1;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }

  /** Sample variance (n − 1 denominator); 0 below two values. */
  get variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }

  get stddev(): number {
    return Math.sqrt(this.variance);
  }
}

export interface Moments {
  readonly n: number;
  readonly mean: number;
  /** sample variance */
  readonly variance: number;
}

export interface WelchResult {
  /** mean(a) − mean(b) */
  readonly difference: number;
  readonly t: number;
  /** Welch–Satterthwaite degrees of freedom */
  readonly df: number;
  /** two-sided: is there any difference? */
  readonly p_two_sided: number;
  /** one-sided: is mean(a) greater than mean(b)? */
  readonly p_greater: number;
}

// Lanczos approximation (g = 7, 9 terms): about 15 significant digits for x > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function, modified Lentz's method. */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const eps = 1e-15;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < eps) break;
  }
  return h;
}

/** Regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  // The fraction converges fast for x < (a+1)/(a+b+2); otherwise use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Complementary error function, |relative error| < 1.2e-7 (Numerical Recipes' erfcc). */
const ERFC_COEFFS = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
  -0.82215223, 0.17087277,
];

function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  let poly = 0;
  for (let i = ERFC_COEFFS.length - 1; i >= 0; i--) poly = ERFC_COEFFS[i] + t * poly;
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}

/** P(T > t) for Student's t with `df` degrees of freedom (df may be Infinity: the normal). */
export function studentTUpperTail(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || df <= 0) return NaN;
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  // Beyond ~1e6 degrees of freedom the t is the normal to far more digits than a p-value needs,
  // and the continued fraction would need thousands of terms.
  if (df > 1e6) return 0.5 * erfc(t / Math.SQRT2);
  const x = df / (df + t * t);
  const tail = 0.5 * incompleteBeta(x, df / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  return 1 - studentTUpperTail(t, df);
}

/**
 * Welch's t-test of mean(a) against mean(b) from summary moments. Null when either side has fewer
 * than two values (no variance estimate).
 */
export function welchTest(a: Moments, b: Moments): WelchResult | null {
  if (a.n < 2 || b.n < 2) return null;
  const va = a.variance / a.n;
  const vb = b.variance / b.n;
  const se2 = va + vb;
  const difference = a.mean - b.mean;
  if (se2 === 0) {
    // Both samples constant: the means either agree exactly or differ with certainty.
    const t = difference === 0 ? 0 : difference > 0 ? Infinity : -Infinity;
    return {
      difference,
      t,
      df: a.n + b.n - 2,
      p_two_sided: difference === 0 ? 1 : 0,
      p_greater: difference > 0 ? 0 : 1,
    };
  }
  const t = difference / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  const upper = studentTUpperTail(Math.abs(t), df);
  return {
    difference,
    t,
    df,
    p_two_sided: Math.min(1, 2 * upper),
    p_greater: t >= 0 ? upper : 1 - upper,
  };
}
