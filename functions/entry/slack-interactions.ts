/**
 * Cloud Function `slack-interactions` (HTTP, public: Slack calls it): the
 * Request URL of the Slack app's interactivity. Slack POSTs
 * `application/x-www-form-urlencoded` with one field, `payload`, holding the
 * JSON of the click (https://api.slack.com/interactivity/handling#payloads).
 * verify the signature → decode → validate (zod) → use case → 200.
 * Anything unsigned, stale or mis-signed gets 401 and is never parsed.
 * Slack wants the 200 within 3 seconds, so a stop is only recorded here and
 * published to `glidepath-rollout-stops`; the rollout-stops function
 * restores the regions (docs/slack.md "Abort and Roll back now").
 */
import * as functions from '@google-cloud/functions-framework';
import type { Request, Response } from '@google-cloud/functions-framework';
import { BlockActionsPayload } from '../domain/interactions';
import { describeIssues } from '../domain/validation';
import { verifySlackSignature } from '../shared/slack-signature';
import { fromSdkError } from '../shared/errors';
import { gateDecisionDeps } from '../actions/rollout';
import { TOPICS } from '../domain/messages';
import { decideGate } from '../usecases/gates';
import { handleClick } from '../usecases/interactions';
import { recordStop } from '../usecases/rollout';
import { runtime } from './runtime';

async function slackInteractions(req: Request, res: Response): Promise<void> {
  const rt = runtime();
  const check = verifySlackSignature({
    secret: rt.config.SLACK_SIGNING_SECRET ?? '',
    timestamp: req.header('x-slack-request-timestamp'),
    signature: req.header('x-slack-signature'),
    rawBody: req.rawBody,
    now: rt.clock.now(),
  });
  if (!check.ok) {
    rt.log.warn('slack interaction refused', { reason: check.reason });
    res.status(401).json({ error: check.reason });
    return;
  }
  if (req.method !== 'POST' || typeof req.body?.payload !== 'string') {
    res.status(400).json({ error: 'expected POST application/x-www-form-urlencoded with a payload field' });
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(req.body.payload as string);
  } catch (err) {
    res.status(400).json({ error: `payload: expected JSON, got a parse error: ${(err as Error).message}` });
    return;
  }
  const parsed = BlockActionsPayload.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    const error = `invalid interaction payload: ${describeIssues(parsed.error, 'payload').join('; ')}`;
    rt.log.warn('slack interaction rejected', { error });
    res.status(400).json({ error });
    return;
  }
  try {
    const outcome = await handleClick(
      {
        store: rt.store,
        policy: rt.policy,
        clock: rt.clock,
        log: rt.log,
        responder: rt.responder,
        decideGate: (input) => decideGate(gateDecisionDeps({ rt, log: rt.log }), input),
        recordStop: (rolloutId, status, reason) => recordStop(rt, rolloutId, status, reason),
        publishStop: async (stop) => {
          await rt
            .publisher()
            .publish(TOPICS.rolloutStops, Buffer.from(JSON.stringify(stop)), { rolloutId: stop.rolloutId });
        },
      },
      parsed.data,
    );
    // Slack only needs the acknowledgement; the answer went to response_url.
    res.status(200).json({ outcome: outcome.kind, message: outcome.message });
  } catch (err) {
    const e = fromSdkError(err);
    rt.log.error('slack interaction failed', { error: e.message, code: e.code });
    res.status(e.transient ? 503 : 500).json({ error: e.message, code: e.code });
  }
}

functions.http('slackInteractions', slackInteractions);
