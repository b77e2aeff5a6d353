export type { SampleSource, HookSample, HookResult, RollupContext, Hook } from './types';
