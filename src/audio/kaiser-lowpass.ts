/**
 * Low-pass FIR filters by the window method: an ideal (sinc) low-pass cut to length by a Kaiser
 * window, with Kaiser's formulas for the window's shape and the filter's length. Frequencies are in
 * cycles per input sample (0.5 is the input's Nyquist frequency).
 */
export interface LowpassSpec {
  /** Highest frequency kept flat. */
  passbandEdge: number;
  /** Lowest frequency that must be attenuated by `attenuationDb`. */
  stopbandEdge: number;
  /** Attenuation from the stopband edge up (and the passband ripple it implies, about 10^(-dB/20)). */
  attenuationDb: number;
}

/** The filter's taps: odd in number and symmetric (linear phase), summing to 1 (unity gain at 0 Hz). */
export function kaiserLowpass(spec: LowpassSpec): Float64Array {
  const { passbandEdge, stopbandEdge, attenuationDb } = spec;
  if (!(passbandEdge > 0 && stopbandEdge > passbandEdge && stopbandEdge <= 0.5)) {
    throw new RangeError("a low-pass needs 0 < passband edge < stopband edge <= 0.5");
  }
  const length = kaiserLength(attenuationDb, stopbandEdge - passbandEdge);
  const beta = kaiserBeta(attenuationDb);
  const cutoff = (passbandEdge + stopbandEdge) / 2;
  const centre = (length - 1) / 2;
  const taps = new Float64Array(length);
  let sum = 0;
  for (let n = 0; n < length; n++) {
    const t = n - centre;
    const sinc = t === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * t) / (Math.PI * t);
    taps[n] = sinc * kaiserWindow(t / centre, beta);
    sum += taps[n];
  }
  for (let n = 0; n < length; n++) taps[n] /= sum;
  return taps;
}

/** Kaiser's estimate of the taps needed, rounded up to an odd number so the filter has a centre tap. */
function kaiserLength(attenuationDb: number, transitionWidth: number): number {
  const n = Math.ceil((attenuationDb - 7.95) / (2.285 * 2 * Math.PI * transitionWidth)) + 1;
  return n % 2 === 1 ? n : n + 1;
}

/** Kaiser's window shape parameter for a given stopband attenuation. */
function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) return 0.5842 * (attenuationDb - 21) ** 0.4 + 0.07886 * (attenuationDb - 21);
  return 0;
}

/** The Kaiser window at x in [-1, 1] (0 is its centre). */
function kaiserWindow(x: number, beta: number): number {
  return besselI0(beta * Math.sqrt(Math.max(0, 1 - x * x))) / besselI0(beta);
}

/** The modified Bessel function of the first kind, order 0, by its power series. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; term > 1e-12 * sum; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
  }
  return sum;
}
