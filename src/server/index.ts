// The server room: rondo serve's HTTP(S) server (Prometheus's HTTP API, remote read,
// remote-write receive, /metrics) over a store this process has open.
export { serve, parseListen, isLoopback, MAX_RANGE_POINTS } from './server';
export type { ServeOptions, RondoServer, ServerStats } from './server';
export type { StatsdStats } from './statsd';
export { decompressSnappy, snappyDeclaredLength, SnappyError } from './snappy';
export { decodeWriteRequest, ProtoError } from './write-request';
export type { DecodedWriteRequest } from './write-request';
export { REMOTE_READ_PROTO_PATH } from './remote';
export { parseTimeMs, parseDurationMs } from './params';
