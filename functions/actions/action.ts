/**
 * The contract of one action of the actions endpoint: a zod schema for its
 * body and a handler. The workflows call `POST <ACTIONS_URL>/<action>`.
 */
import type { z } from 'zod';
import type { Runtime } from '../entry/runtime';
import type { Logger } from '../shared/log';

export interface ActionContext {
  rt: Runtime;
  log: Logger;
}

/**
 * 200: done (the body is the result). 409: the rollout or run is no longer
 * active (superseded, aborted, finished): the workflow stops cleanly.
 */
export type ActionResult =
  { status: 200; body: Record<string, unknown> } | { status: 409; body: { stop: true; reason: string } };

export interface Action<S extends z.ZodType = z.ZodType> {
  schema: S;
  run(ctx: ActionContext, input: z.output<S>): Promise<ActionResult>;
}

export function defineAction<S extends z.ZodType>(schema: S, run: Action<S>['run']): Action<S> {
  return { schema, run };
}

export const ok = (body: Record<string, unknown>): ActionResult => ({ status: 200, body });
export const stop = (reason: string): ActionResult => ({ status: 409, body: { stop: true, reason } });
