// Snappy block decompression for request bodies (remote write and read), bounded: the declared
// length is read first and checked against the limit before anything is allocated, and every
// literal and copy is checked against both buffers, so a hostile body costs at most the limit.

export class SnappyError extends Error {
  override name = 'SnappyError';
}

/** The uncompressed length a snappy block declares (its leading varint), and the varint's size. */
export function snappyDeclaredLength(input: Uint8Array): { length: number; headerBytes: number } {
  let result = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= input.length) throw new SnappyError('snappy: the block ends inside its length header');
    const b = input[i]!;
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) {
      if (result > 0xffffffff) throw new SnappyError('snappy: the declared length is over 4 GiB');
      return { length: result, headerBytes: i + 1 };
    }
  }
  throw new SnappyError('snappy: the length header is longer than 5 bytes');
}

/** Decompresses one snappy block of at most `maxLength` bytes uncompressed. */
export function decompressSnappy(input: Uint8Array, maxLength: number): Buffer {
  const { length, headerBytes } = snappyDeclaredLength(input);
  if (length > maxLength)
    throw new SnappyError(`snappy: the body declares ${length} bytes uncompressed, over the limit of ${maxLength}`);
  const out = Buffer.allocUnsafe(length);
  let ip = headerBytes;
  let op = 0;
  const n = input.length;
  while (ip < n) {
    const tag = input[ip++]!;
    const type = tag & 3;
    if (type === 0) {
      // Literal: length-1 in the upper 6 bits, or in 1-4 following bytes.
      let len = tag >>> 2;
      if (len >= 60) {
        const bytes = len - 59;
        if (ip + bytes > n) throw new SnappyError('snappy: the block ends inside a literal length');
        len = 0;
        for (let i = 0; i < bytes; i++) len += input[ip + i]! * 2 ** (8 * i);
        ip += bytes;
      }
      len += 1;
      if (ip + len > n) throw new SnappyError('snappy: a literal runs past the end of the block');
      if (op + len > length) throw new SnappyError('snappy: a literal runs past the declared length');
      // Short ones byte by byte: cheaper than a view and a call into set().
      if (len <= 16) for (let i = 0; i < len; i++) out[op + i] = input[ip + i]!;
      else out.set(input.subarray(ip, ip + len), op);
      ip += len;
      op += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (type === 1) {
      if (ip >= n) throw new SnappyError('snappy: the block ends inside a copy');
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | input[ip++]!;
    } else if (type === 2) {
      if (ip + 2 > n) throw new SnappyError('snappy: the block ends inside a copy');
      len = (tag >>> 2) + 1;
      offset = input[ip]! | (input[ip + 1]! << 8);
      ip += 2;
    } else {
      if (ip + 4 > n) throw new SnappyError('snappy: the block ends inside a copy');
      len = (tag >>> 2) + 1;
      offset = (input[ip]! | (input[ip + 1]! << 8) | (input[ip + 2]! << 16) | (input[ip + 3]! << 24)) >>> 0;
      ip += 4;
    }
    if (offset === 0 || offset > op) throw new SnappyError(`snappy: a copy refers to offset ${offset} before the start of the output`);
    if (op + len > length) throw new SnappyError('snappy: a copy runs past the declared length');
    if (offset >= len) {
      if (len <= 16) for (let i = 0; i < len; i++) out[op + i] = out[op - offset + i]!;
      else out.copyWithin(op, op - offset, op - offset + len);
      op += len;
    } else {
      // Overlapping: byte by byte, as the format means it.
      for (let i = 0; i < len; i++, op++) out[op] = out[op - offset]!;
    }
  }
  if (op !== length) throw new SnappyError(`snappy: the block holds ${op} bytes, not the ${length} it declares`);
  return out;
}
