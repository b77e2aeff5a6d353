// The agent room: the agent a VMM launcher embeds, the collector contract, and its collectors.
export { Agent, ClockStepNotice } from './agent';
export type { AgentOptions, AgentRemoteWrite, AgentStats } from './agent';
export type { Collector, CollectContext, OpenContext } from './collector';
export { processCollector, PROCESS_METRICS } from './collectors/process';
export { promClientCollector } from './collectors/prom-client';
