import type { Action } from './action';
import { ROLLOUT_ACTIONS } from './rollout';
import { JOB_ACTIONS } from './jobs';

/** Every action the workflows may call, by name (the URL path). */
export const ACTIONS: Record<string, Action> = { ...ROLLOUT_ACTIONS, ...JOB_ACTIONS };
