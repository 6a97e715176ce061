/**
 * Cloud Run's invoker check, as the front door applies it before any
 * container sees a request (rules and sources: docs/local-cloud.md, "Who may
 * call a service"). Tokens are the local cloud's OIDC stand-ins
 * (functions/shared/oidc.ts), verified with the shared secret.
 */
import { verifyOidcSignature } from '../../functions/shared/oidc';

export const INVOKER_ROLE = 'roles/run.invoker';

interface InvokerPolicy {
  /** `Service.invoker_iam_disabled`: no check at all. */
  invokerIamDisabled: boolean;
  /** The members of every roles/run.invoker binding on the service. */
  invokers: ReadonlySet<string>;
  /** The service's URL and its `custom_audiences`. */
  serviceUrl: string;
  customAudiences: readonly string[];
}

export type InvokerVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

// The texts Cloud Run logs with these answers, quoted in public reports (docs/local-cloud.md).
const NOT_AUTHENTICATED =
  'The request was not authenticated. Either allow unauthenticated invocations or set the proper Authorization header.';
const NOT_VERIFIED = 'The access token could not be verified';
const NOT_AUTHORIZED = 'The request was not authorized to invoke this service.';

/** May the bearer of `authorization` invoke a service with `policy`? `secret` undefined: no token verifies. */
export function checkInvoker(
  policy: InvokerPolicy,
  authorization: string | undefined,
  secret: string | undefined,
  nowMs = Date.now(),
): InvokerVerdict {
  if (policy.invokerIamDisabled || policy.invokers.has('allUsers')) return { ok: true };
  const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return { ok: false, status: 403, message: NOT_AUTHENTICATED };
  let email: string;
  try {
    if (!secret) throw new Error('the emulator was started without an OIDC secret');
    const claims = verifyOidcSignature(token, secret, nowMs);
    const audiences = [policy.serviceUrl, `${policy.serviceUrl}/`, ...policy.customAudiences];
    if (!audiences.includes(claims.aud))
      throw new Error(`audience ${claims.aud}, expected one of ${audiences.join(', ')}`);
    email = claims.email;
  } catch (err) {
    return { ok: false, status: 401, message: `${NOT_VERIFIED}: ${(err as Error).message}` };
  }
  const member = email.endsWith('.gserviceaccount.com') ? `serviceAccount:${email}` : `user:${email}`;
  if (policy.invokers.has(member) || policy.invokers.has('allAuthenticatedUsers')) return { ok: true };
  return { ok: false, status: 403, message: `${NOT_AUTHORIZED} (${member} lacks ${INVOKER_ROLE})` };
}
