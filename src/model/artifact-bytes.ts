// Byte-level helpers of the model artifact (artifact.ts): little-endian typed-array reads that are
// safe on any alignment, the CRC-32 trailer, and the one way a malformed artifact is refused.
import * as zlib from 'node:zlib';
import { FlywheelError } from '../errors.js';

/** 2^28 nodes of 16 bytes = 4 GB in memory: far above a million-row forest (about 10^8 nodes). */
export const MAX_NODES = 2 ** 28;

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

export function invalid(message: string): never {
  throw new FlywheelError('FLY_ERR_ARTIFACT_INVALID', `invalid model artifact: ${message}`);
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A fresh copy (Buffer#slice would return a view at the same, possibly unaligned, offset). */
function copyBytes(bytes: Uint8Array, at: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes.subarray(at, at + length));
  return out;
}

export function firstNonFinite(a: Float64Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/**
 * n little-endian float64 values at `at`: a copy (the caller may reuse its buffer) unless `copy` is
 * false and the bytes are aligned.
 */
export function readFloat64s(bytes: Uint8Array, at: number, n: number, copy = true): Float64Array {
  if (LITTLE_ENDIAN) {
    if ((bytes.byteOffset + at) % 8 === 0) {
      const view = new Float64Array(bytes.buffer, bytes.byteOffset + at, n);
      return copy ? view.slice() : view;
    }
    return new Float64Array(copyBytes(bytes, at, 8 * n).buffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8 * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
  return out;
}

export function readUint16s(bytes: Uint8Array, at: number, n: number): Uint16Array {
  if (LITTLE_ENDIAN) return new Uint16Array(copyBytes(bytes, at, 2 * n).buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, 2 * n);
  return Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true));
}

// zlib.crc32 arrived in Node 20.15; older Node 20 releases use the table below.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
let crcTable: Int32Array | undefined;

export function crc32(data: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(data) >>> 0;
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
