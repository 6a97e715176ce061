/**
 * The contract of one action of the actions endpoint: a zod schema for its
 * body and a handler. The workflows call `POST <ACTIONS_URL>/<action>`.
 */
import type { z } from 'zod';
import type { Runtime } from '../entry/runtime';
import type { Logger } from '../shared/log';
import { show } from '../domain/validation';

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

/**
 * Ids in a body (`rolloutId`, `runId`, `executionId`, any `…Id`) name
 * Firestore documents. An id with a `/` would address another document, or
 * a collection, which the client refuses with an error that reads as
 * transient (a 503 the workflow retries forever); `.`, `..` and `__…__` are
 * reserved. Every action refuses them as a 400 that names the field.
 */
const USABLE_DOCUMENT_ID = /^(?!\.{1,2}$)(?!__.*__$)[^/]+$/;

function refuseUnusableIds<S extends z.ZodType>(schema: S): S {
  return schema.superRefine((body, ctx) => {
    if (typeof body !== 'object' || body === null) return;
    for (const [key, value] of Object.entries(body)) {
      if (/Id$/.test(key) && typeof value === 'string' && !USABLE_DOCUMENT_ID.test(value))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `expected an id without "/" that is not ".", ".." or "__…__", got ${show(value)}`,
        });
    }
  });
}

export function defineAction<S extends z.ZodType>(schema: S, run: Action<S>['run']): Action<S> {
  return { schema: refuseUnusableIds(schema), run };
}

export const ok = (body: Record<string, unknown>): ActionResult => ({ status: 200, body });
export const stop = (reason: string): ActionResult => ({ status: 409, body: { stop: true, reason } });
