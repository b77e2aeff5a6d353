// The fossil room: fossil's wire protocol (a TCP door over a server's stores), its query
// language over a store's event rings, and a client (docs/events.md).
export { startFossil, singleDatabase, fossilDatabases, FIRE_AND_FORGET } from './door';
export type { FossilDoor, FossilDoorOptions, FossilDatabases, FossilStats } from './door';
export { FossilClient, FossilError, parseFossilUrl, DEFAULT_FOSSIL_PORT } from './client';
export type { FossilEntry, FossilStatsAnswer, FossilClientOptions } from './client';
export { parseQuery, FossilQueryError, UNIT_NS } from './parse';
export type { Query, Stage, Expr } from './parse';
export { runQuery, runParsed } from './evaluate';
export type { QueryRow, RunOptions } from './evaluate';
export { decodeDatum, encodeValue } from './datum';
export type { Schema, Value } from './datum';
export { eventsOf } from './source';
export type { EventSource, EventRow, TopicRow } from './source';
export { encodeFrame, FrameReader, formatTime, goDuration, CODES, MAX_FRAME, FOSSIL_VERSION } from './wire';
