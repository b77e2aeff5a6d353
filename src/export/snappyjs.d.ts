// snappyjs ships no types. Snappy *block* format (not the framed format), which is what
// Prometheus remote-write uses.
declare module 'snappyjs' {
  /** Compresses `input` as one snappy block. A Buffer in gives a Buffer out. */
  export function compress(input: Uint8Array): Uint8Array;
  /** Decompresses one snappy block; throws if the input is not valid snappy. */
  export function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
