/**
 * Sends a gate's decision to the Workflows callback URL the execution awaits.
 *
 * Google requires an OAuth 2.0 access token on a callback request, from an
 * identity holding `workflows.callbacks.send` (Workflows Invoker), not an
 * OIDC identity token (docs/workflows-emulator.md, "Callbacks"). On GCP the
 * token is google-auth-library's access token of the function's service
 * account; on the local cloud, `localAccessToken` (functions/shared/oidc.ts),
 * which the Workflows emulator's callback endpoint verifies.
 */
import type { GoogleAuth } from 'google-auth-library';
import type { GateCallbackBody } from '../domain/gates';
import type { GateCallbackSender } from '../ports';
import { GlidepathError, fromSdkError } from '../shared/errors';

/** An OAuth 2.0 access token of this function's own identity. */
type AccessTokenSource = () => Promise<string>;

export function googleAccessToken(auth: GoogleAuth): AccessTokenSource {
  return async () => {
    const token = await auth.getAccessToken();
    if (!token) throw new GlidepathError('unavailable', 'google-auth-library returned no access token');
    return token;
  };
}

export function httpGateCallbackSender(token: AccessTokenSource, timeoutMs = 10_000): GateCallbackSender {
  return {
    async send(url: string, body: GateCallbackBody): Promise<void> {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw fromSdkError(err, `POST ${url}`);
      }
      if (res.ok) return;
      const text = (await res.text().catch(() => '')).slice(0, 500);
      throw fromSdkError({ status: res.status, message: `HTTP ${res.status} ${text}` }, `POST ${url}`);
    },
  };
}
