// The codec room: the Codec interface, the registry, the chunk frame, and the built-in codecs
// (gorilla, raw, deflate). It depends on nothing but the shared files (errors, package-root for
// the addon that holds Gorilla in C++). docs/codecs.md.
import { registerCodec } from './codec';
import { deflateCodec, gorillaNativeCodec, rawCodec } from './builtin';

export {
  registerCodec,
  codecByName,
  codecs,
  encodeChunk,
  decodeChunk,
  readChunkHeader,
  chunkLength,
  crc32,
  CodecExistsError,
  UnknownCodecError,
  MAX_CHUNK_POINTS,
  CHUNK_FRAME_VERSION,
} from './codec';
export type { Codec, Points, ChunkHeader, DecodedChunk } from './codec';
export { rawCodec, deflateCodec, gorillaTsCodec, gorillaNativeCodec } from './builtin';
export { GORILLA_MAX_TIMESTAMP } from './gorilla';
export { encodeContainer, decodeContainer, CONTAINER_MAGIC, CONTAINER_VERSION, DEFAULT_CHUNK_POINTS } from './container';
export type { ContainerSeries, ReadSeries } from './container';

/** The default codec's name. */
export const DEFAULT_CODEC = 'gorilla';

registerCodec(gorillaNativeCodec);
registerCodec(rawCodec);
registerCodec(deflateCodec);
