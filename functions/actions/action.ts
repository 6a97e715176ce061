/**
 * The contract of one action of the actions endpoint: a zod schema for its
 * body and a handler. The workflows call `POST <ACTIONS_URL>/<action>`.
 */
import type { z } from 'zod';
import type { Runtime } from '../entry/runtime';
import type { Logger } from '../shared/log';
import { illFormedTextAt, show } from '../domain/validation';

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
 * What every action refuses, whatever its schema, as a 400 naming the field:
 * - ids (`rolloutId`, `runId`, `executionId`, any `…Id`) that cannot name a
 *   Firestore document: a `/` would address another document, or a
 *   collection, which the client refuses with an error that reads as
 *   transient (a 503 the workflow retries forever); `.`, `..` and `__…__`
 *   are reserved;
 * - text with a lone surrogate, which Firestore (valid UTF-8 only) refuses.
 */
const USABLE_DOCUMENT_ID = /^(?!\.{1,2}$)(?!__[\s\S]*__$)[^/]+$/;

function refuseUnstorable<S extends z.ZodType>(schema: S): S {
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
    const illFormed = illFormedTextAt(body);
    if (illFormed !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: illFormed,
        message: 'expected well-formed Unicode text, got a lone surrogate',
      });
  });
}

export function defineAction<S extends z.ZodType>(schema: S, run: Action<S>['run']): Action<S> {
  return { schema: refuseUnstorable(schema), run };
}

export const ok = (body: Record<string, unknown>): ActionResult => ({ status: 200, body });
export const stop = (reason: string): ActionResult => ({ status: 409, body: { stop: true, reason } });
