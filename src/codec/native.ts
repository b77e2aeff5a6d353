// Gorilla in C++ (native/codec/gorilla.cc), from the store's addon (build/<variant>/rondo.node):
// the same bytes as ./gorilla.ts writes. The addon's RONDO_CORRUPT becomes CorruptFileError,
// its RONDO_ARG on a timestamp InvalidTimestampError.
import { addonFile } from '../package-root';
import { CorruptFileError, InvalidTimestampError, nativeCode } from '../errors';

interface CodecAddon {
  gorillaEncode(timestamps: Float64Array, values: Float64Array): Uint8Array;
  gorillaDecode(payload: Uint8Array, count: number, timestamps: Float64Array, values: Float64Array): void;
}

let addon: CodecAddon | undefined;
function load(): CodecAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon ??= require(addonFile('rondo')) as CodecAddon;
  return addon;
}

function mapped(e: unknown): unknown {
  const code = nativeCode(e);
  if (code === 'RONDO_CORRUPT') return new CorruptFileError((e as Error).message);
  if (code === 'RONDO_ARG' && /timestamp/.test((e as Error).message))
    return new InvalidTimestampError(`${(e as Error).message}; Gorilla encodes whole milliseconds (use the raw or deflate codec for other numbers)`);
  return e;
}

export function gorillaEncodeNative(timestamps: Float64Array, values: Float64Array): Uint8Array {
  const a = load();
  try {
    return a.gorillaEncode(timestamps, values);
  } catch (e) {
    throw mapped(e);
  }
}

export function gorillaDecodeNative(payload: Uint8Array, count: number): { timestamps: Float64Array; values: Float64Array } {
  const a = load();
  // The payload's size bounds the count before anything is allocated for it.
  if (count > 1 && payload.length * 8 < 8 + 128 + (count - 1) * 2)
    throw new CorruptFileError(`gorilla chunk: ${payload.length} bytes cannot hold ${count} points`);
  const timestamps = new Float64Array(count);
  const values = new Float64Array(count);
  try {
    a.gorillaDecode(payload, count, timestamps, values);
  } catch (e) {
    throw mapped(e);
  }
  return { timestamps, values };
}
