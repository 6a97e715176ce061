/**
 * Local stand-in for the OIDC identity tokens Workflows attaches with
 * `auth: {type: OIDC}`: same claims as Google's, but HMAC-signed with a shared
 * secret so the local actions function can verify them without Google.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface OidcClaims {
  iss: string;
  aud: string;
  email: string;
  email_verified: boolean;
  sub: string;
  iat: number;
  exp: number;
}

const ISSUER = 'https://accounts.google.com';
const b64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

export function mintOidcToken(opts: {
  serviceAccount: string;
  audience: string;
  secret: string;
  nowMs?: number;
}): string {
  const iat = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  const claims: OidcClaims = {
    iss: ISSUER,
    aud: opts.audience,
    email: opts.serviceAccount,
    email_verified: true,
    sub: opts.serviceAccount,
    iat,
    exp: iat + 3600,
  };
  const unsigned = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${unsigned}.${createHmac('sha256', opts.secret).update(unsigned).digest('base64url')}`;
}

/** Returns the claims of a token signed with `secret`, unexpired and issued by Google; throws saying what is wrong otherwise. */
export function verifyOidcSignature(token: string, secret: string, nowMs = Date.now()): OidcClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`OIDC token: expected 3 dot-separated parts, got ${parts.length}`);
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const actual = Buffer.from(parts[2], 'base64url');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected))
    throw new Error('OIDC token: bad signature');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString()) as { alg?: unknown };
  if (header.alg !== 'HS256') throw new Error(`OIDC token: alg ${String(header.alg)}, expected HS256`);
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) as OidcClaims;
  if (claims.iss !== ISSUER) throw new Error(`OIDC token: iss ${claims.iss}, expected ${ISSUER}`);
  const now = Math.floor(nowMs / 1000);
  if (typeof claims.exp !== 'number' || claims.exp <= now)
    throw new Error(`OIDC token: expired at ${claims.exp}, now ${now}`);
  return claims;
}

/** Returns the claims of a valid token from `expectedEmail`; throws saying what is wrong otherwise. */
export function verifyOidcToken(
  token: string,
  secret: string,
  expectedEmail: string,
  nowMs = Date.now(),
): OidcClaims {
  const claims = verifyOidcSignature(token, secret, nowMs);
  if (claims.email !== expectedEmail || claims.email_verified !== true)
    throw new Error(`OIDC token: email ${claims.email}, expected ${expectedEmail}`);
  return claims;
}

/**
 * The audience of the local stand-in for a Google OAuth 2.0 access token.
 * Workflows callbacks take an access token, not an ID token
 * (docs/workflows-emulator.md, "Callbacks"); locally it is HS256-signed like
 * the ID tokens, and this audience keeps one from passing for the other.
 */
export const LOCAL_ACCESS_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token#access-token';

export function localAccessToken(serviceAccount: string, secret: string, nowMs?: number): string {
  return mintOidcToken({
    serviceAccount,
    audience: LOCAL_ACCESS_TOKEN_AUDIENCE,
    secret,
    ...(nowMs !== undefined ? { nowMs } : {}),
  });
}
