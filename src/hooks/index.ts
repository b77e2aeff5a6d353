export type { SampleSource, HookSample, HookResult, RollupContext, Hook } from './types';
export { loadWasmHook, WasmHookError, type WasmHook, type WasmHookOptions } from './wasm';
