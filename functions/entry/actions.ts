/**
 * Cloud Function `actions` (HTTP): the steps the workflows call.
 * auth → route → validate (zod) → action → map the result to HTTP.
 * Transient failures answer 503 so the workflow's retry policy retries; permanent ones
 * answer 4xx or 500, which it does not retry.
 */
import * as functions from '@google-cloud/functions-framework';
import type { Request, Response } from '@google-cloud/functions-framework';
import { ACTIONS } from '../actions';
import { checkCaller } from '../shared/caller';
import { fromSdkError } from '../shared/errors';
import { describeIssues } from '../domain/validation';
import { runtime } from './runtime';

const HTTP_FOR_CODE = {
  unavailable: 503,
  deadline: 503,
  conflict: 503,
  invalid: 400,
  not_found: 404,
  permission: 403,
  internal: 500,
  // Not 500: the workflow retries 500 as transient, and a failed operation is final.
  failed: 422,
} as const;

async function actions(req: Request, res: Response): Promise<void> {
  const rt = runtime();
  const caller = checkCaller(req.header('authorization'), {
    serviceAccount: rt.config.GLIDEPATH_WORKFLOW_SA,
    localSecret: rt.config.GLIDEPATH_LOCAL_OIDC_SECRET,
    // This service's root URL, which the workflows send as the OIDC audience.
    audience: `${req.header('x-forwarded-proto') ?? req.protocol}://${req.header('host')}`,
  });
  if (!caller.ok) {
    rt.log.warn('actions call refused', { reason: caller.reason, path: req.path });
    res.status(caller.status).json({ error: caller.reason });
    return;
  }
  const name = req.path.replace(/^\/+|\/+$/g, '');
  const action = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
  if (req.method !== 'POST' || !action) {
    res
      .status(404)
      .json({ error: `expected POST /<${Object.keys(ACTIONS).join('|')}>, got ${req.method} /${name}` });
    return;
  }
  const parsed = action.schema.safeParse(req.body, { reportInput: true });
  if (!parsed.success) {
    const error = `invalid ${name} body: ${describeIssues(parsed.error).join('; ')}`;
    rt.log.warn('actions call rejected', { action: name, error });
    res.status(400).json({ error });
    return;
  }
  const input = parsed.data as Record<string, unknown>;
  const log = rt.log.child({
    action: name,
    ...(typeof input.rolloutId === 'string' ? { rolloutId: input.rolloutId } : {}),
    ...(typeof input.region === 'string' ? { region: input.region } : {}),
    ...(typeof input.step === 'number' ? { step: input.step } : {}),
  });
  try {
    const result = await action.run({ rt, log }, parsed.data);
    res.status(result.status).json(result.body);
  } catch (err) {
    // Only known transient causes answer 503 (retried by the workflow); anything else,
    // our own domain errors included, fails the region with its message.
    const e = fromSdkError(err);
    const status = HTTP_FOR_CODE[e.code];
    log.error('action failed', { error: e.message, code: e.code, status });
    res.status(status).json({ error: e.message, code: e.code });
  }
}

functions.http('actions', actions);
