import type { Action } from './action';
import { ROLLOUT_ACTIONS } from './rollout';
import { JOB_ACTIONS } from './jobs';
import { JOB_ROLLOUT_ACTIONS } from './job-rollout';

/** Every action the workflows may call, by name (the URL path). */
export const ACTIONS: Record<string, Action> = { ...ROLLOUT_ACTIONS, ...JOB_ACTIONS, ...JOB_ROLLOUT_ACTIONS };
