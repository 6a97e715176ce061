/**
 * Clicks a button of a message in the Slack sink the way Slack does: a
 * `block_actions` payload (https://api.slack.com/reference/interaction-payloads/block-actions),
 * form-encoded as `payload=<JSON>`, signed with the app's signing secret
 * (functions/shared/slack-signature.ts), POSTed to the interaction function.
 */
import { slackSignature } from '../functions/shared/slack-signature';
import type { SlackPost, SlackSink } from './slack-sink';

export interface SlackUser {
  id: string;
  name?: string;
}

/** The payload Slack sends when `user` clicks the button `actionId` of `post`. */
function blockActionsPayload(
  post: SlackPost,
  actionId: string,
  user: SlackUser,
  responseUrl: string,
): Record<string, unknown> {
  const button = post.blocks
    .flatMap((b) =>
      (b as { type?: string }).type === 'actions' ? (b as { elements: unknown[] }).elements : [],
    )
    .find((e) => (e as { action_id?: string }).action_id === actionId) as
    { action_id: string; value?: string } | undefined;
  if (!button) throw new Error(`message ${post.ts} ("${post.text}") has no ${actionId} button`);
  return {
    type: 'block_actions',
    user: { id: user.id, username: user.name ?? user.id, name: user.name ?? user.id, team_id: 'T000' },
    api_app_id: 'A000',
    team: { id: 'T000', domain: 'local' },
    container: { type: 'message', message_ts: post.ts, channel_id: 'C000' },
    channel: { id: 'C000', name: post.channel ?? 'local' },
    message: { type: 'message', ts: post.ts, text: post.text, blocks: post.blocks },
    response_url: responseUrl,
    trigger_id: `${post.ts}.trigger`,
    actions: [{ type: 'button', action_id: button.action_id, value: button.value, action_ts: post.ts }],
  };
}

/** The HTTP request Slack sends for `payload`: its form-encoded body and signature headers. */
export function signedRequest(
  secret: string,
  payload: unknown,
  timestamp: number,
): { body: string; headers: Record<string, string> } {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const ts = String(timestamp);
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(secret, ts, body),
    },
  };
}

/** Clicks `actionId` on `post` as `user`; resolves to the interaction function's HTTP answer. */
export async function clickButton(input: {
  functionUrl: string;
  secret: string;
  sink: SlackSink;
  post: SlackPost;
  actionId: string;
  user: SlackUser;
}): Promise<{ status: number; body: unknown }> {
  const payload = blockActionsPayload(
    input.post,
    input.actionId,
    input.user,
    input.sink.responseUrl(input.post),
  );
  const req = signedRequest(input.secret, payload, Math.floor(Date.now() / 1000));
  const res = await fetch(input.functionUrl, { method: 'POST', headers: req.headers, body: req.body });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body };
}
