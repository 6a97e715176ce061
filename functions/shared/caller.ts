/**
 * Who may call the actions endpoint: only the workflows' service account.
 *
 * On GCP, Cloud Run IAM (run.invoker for that account alone) has already
 * verified the Google-signed token before a request arrives; we re-check
 * the email claim as defence in depth. Locally, the Workflows emulator
 * signs an OIDC-shaped token with a shared secret, which we verify fully.
 *
 * `audience`, when given, must equal the token's `aud`: the workflows set it
 * to the service's root URL, as Google recommends (its default, the full
 * request URL, would differ for every action).
 */
import { verifyOidcToken } from './oidc';

type CallerCheck = { ok: true; email: string } | { ok: false; status: 401 | 403; reason: string };

export function checkCaller(
  authorization: string | undefined,
  expected: { serviceAccount: string | undefined; localSecret: string | undefined; audience?: string },
): CallerCheck {
  const audienceProblem = (aud: unknown): CallerCheck | undefined =>
    expected.audience !== undefined && aud !== expected.audience
      ? {
          ok: false,
          status: 403,
          reason: `OIDC token audience ${JSON.stringify(aud ?? null)} is not this service's root URL ${expected.audience}`,
        }
      : undefined;
  if (!expected.serviceAccount)
    return {
      ok: false,
      status: 403,
      reason: 'GLIDEPATH_WORKFLOW_SA is not configured; refusing every caller',
    };
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token)
    return { ok: false, status: 401, reason: 'authorization: expected "Bearer <OIDC token>", got none' };
  try {
    if (expected.localSecret) {
      const claims = verifyOidcToken(token, expected.localSecret, expected.serviceAccount);
      return audienceProblem(claims.aud) ?? { ok: true, email: claims.email };
    }
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      email?: string;
      aud?: string;
    };
    if (payload.email !== expected.serviceAccount)
      return {
        ok: false,
        status: 403,
        reason: `caller ${payload.email ?? '(no email)'} is not ${expected.serviceAccount}`,
      };
    return audienceProblem(payload.aud) ?? { ok: true, email: payload.email };
  } catch (err) {
    return { ok: false, status: 403, reason: (err as Error).message };
  }
}
