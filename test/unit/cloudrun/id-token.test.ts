/** The ID token adapters behind the smoke test (functions/adapters/id-token.ts). */
import type { GoogleAuth } from 'google-auth-library';
import { googleIdTokenSource, localIdTokenSource } from '../../../functions/adapters/id-token';
import { verifyOidcToken } from '../../../functions/shared/oidc';
import { GlidepathError } from '../../../functions/shared/errors';

/** A GoogleAuth whose ID token clients answer with `authorization`, or fail. */
function fakeAuth(authorization: () => string): { auth: GoogleAuth; audiences: string[] } {
  const audiences: string[] = [];
  const auth = {
    getIdTokenClient: async (audience: string) => {
      audiences.push(audience);
      return { getRequestHeaders: async () => new Headers({ authorization: authorization() }) };
    },
  } as unknown as GoogleAuth;
  return { auth, audiences };
}

describe('googleIdTokenSource', () => {
  it('returns the bearer token of an ID token client for the audience, one client per audience', async () => {
    const { auth, audiences } = fakeAuth(() => 'Bearer header.claims.signature');
    const source = googleIdTokenSource(auth);
    expect(await source.idToken('https://api-abc-uc.a.run.app')).toBe('header.claims.signature');
    expect(await source.idToken('https://api-abc-uc.a.run.app')).toBe('header.claims.signature');
    expect(await source.idToken('https://web-abc-uc.a.run.app')).toBe('header.claims.signature');
    expect(audiences).toEqual(['https://api-abc-uc.a.run.app', 'https://web-abc-uc.a.run.app']);
  });

  it('turns a failure into a transient error naming the audience, and tries a new client next time', async () => {
    let fail = true;
    const { auth, audiences } = fakeAuth(() => {
      if (fail) throw new Error('metadata server unreachable');
      return 'Bearer t.o.k';
    });
    const source = googleIdTokenSource(auth);
    const err = await source.idToken('https://api-abc-uc.a.run.app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlidepathError);
    expect(err).toMatchObject({
      code: 'unavailable',
      message: 'ID token for audience https://api-abc-uc.a.run.app: metadata server unreachable',
    });
    expect((err as GlidepathError).transient).toBe(true);
    fail = false;
    expect(await source.idToken('https://api-abc-uc.a.run.app')).toBe('t.o.k');
    expect(audiences).toHaveLength(2);
  });
});

it('localIdTokenSource signs a token of its identity for the audience with the local secret', async () => {
  const token = await localIdTokenSource('actions@local.iam.gserviceaccount.com', 's3cret').idToken(
    'http://127.0.0.1:1/s/us-central1/api',
  );
  expect(verifyOidcToken(token, 's3cret', 'actions@local.iam.gserviceaccount.com')).toMatchObject({
    aud: 'http://127.0.0.1:1/s/us-central1/api',
  });
});
