/**
 * Slack's request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">`
 * keyed with the app's signing secret. A request older than five minutes is
 * refused, so a captured request cannot be replayed later. The comparison is
 * constant-time, so the answer's timing does not leak how much of a forged
 * signature was right.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's replay window: a timestamp more than five minutes from our clock is refused. */
const SLACK_REPLAY_WINDOW_SECONDS = 5 * 60;

type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with `secret`. */
export function slackSignature(secret: string, timestamp: string, body: Buffer | string): string {
  const mac = createHmac('sha256', secret);
  mac.update(`v0:${timestamp}:`);
  mac.update(body);
  return `v0=${mac.digest('hex')}`;
}

export function verifySlackSignature(input: {
  secret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: Buffer | undefined;
  now: Date;
}): SignatureCheck {
  const { secret, timestamp, signature, rawBody, now } = input;
  if (!secret) return { ok: false, reason: 'no signing secret configured' };
  if (!timestamp || !signature)
    return { ok: false, reason: 'expected X-Slack-Request-Timestamp and X-Slack-Signature headers' };
  if (!/^\d{1,12}$/.test(timestamp))
    return {
      ok: false,
      reason: `X-Slack-Request-Timestamp: expected Unix seconds, got ${JSON.stringify(timestamp.slice(0, 40))}`,
    };
  const age = Math.abs(now.getTime() / 1000 - Number(timestamp));
  if (age > SLACK_REPLAY_WINDOW_SECONDS)
    return {
      ok: false,
      reason: `X-Slack-Request-Timestamp: ${timestamp} is ${Math.round(age)}s from now, expected within ${SLACK_REPLAY_WINDOW_SECONDS}s`,
    };
  if (!rawBody) return { ok: false, reason: 'no raw request body to verify' };
  const expected = Buffer.from(slackSignature(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  // timingSafeEqual throws on different lengths; a wrong length is simply a wrong signature.
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'X-Slack-Signature does not match the request' };
  return { ok: true };
}
