export type { SampleSource, HookSample, HookResult, RollupContext, Hook } from './types';
export { HookChain, type HookChainOptions, type HookFigures, type RollupFn } from './chain';
export { loadWasmHook, resolveHooks, isWasmHookSpec, WasmHookError, type WasmHook, type WasmHookOptions, type WasmHookSpec } from './wasm';
