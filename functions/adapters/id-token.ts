/**
 * IdTokenSource on GCP: google-auth-library's ID token client, which asks the
 * metadata server for a Google-signed token of the function's service account
 * (and caches it until shortly before it expires). On the local cloud: the
 * OIDC stand-in signed with the local secret (functions/shared/oidc.ts), which
 * the Cloud Run emulator's front door verifies.
 */
import type { GoogleAuth, IdTokenClient } from 'google-auth-library';
import type { IdTokenSource } from '../ports';
import { GlidepathError } from '../shared/errors';
import { mintOidcToken } from '../shared/oidc';

export function googleIdTokenSource(auth: GoogleAuth): IdTokenSource {
  const clients = new Map<string, Promise<IdTokenClient>>();
  return {
    async idToken(audience) {
      try {
        let client = clients.get(audience);
        if (!client) {
          client = auth.getIdTokenClient(audience);
          clients.set(audience, client);
        }
        const headers = await (await client).getRequestHeaders();
        const token = /^Bearer (\S+)$/.exec(headers.get('authorization') ?? '')?.[1];
        if (!token) throw new Error('the ID token client returned no bearer token');
        return token;
      } catch (err) {
        clients.delete(audience);
        throw new GlidepathError(
          'unavailable',
          `ID token for audience ${audience}: ${(err as Error).message}`,
          err,
        );
      }
    },
  };
}

export function localIdTokenSource(serviceAccount: string, secret: string): IdTokenSource {
  return { idToken: async (audience) => mintOidcToken({ serviceAccount, audience, secret }) };
}
