// G.711 expansion tables (ITU-T G.711), built once: 256 entries each, index = the coded byte.

function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

export const MULAW_TO_S16: Int16Array = Int16Array.from({ length: 256 }, (_, i) => ulawToLinear(i));
export const ALAW_TO_S16: Int16Array = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));
