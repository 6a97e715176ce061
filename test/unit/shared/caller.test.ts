/** The actions function accepts only the workflows' tokens for its own root URL (issue #14 item 4). */
import { checkCaller } from '../../../functions/shared/caller';
import { mintOidcToken } from '../../../emulators/workflows';

const SA = 'wf@p.iam.gserviceaccount.com';
const SECRET = 'caller-secret';
const ROOT = 'https://actions-abc-uc.a.run.app';
const bearer = (audience: string): string =>
  `Bearer ${mintOidcToken({ serviceAccount: SA, audience, secret: SECRET })}`;
const expected = { serviceAccount: SA, localSecret: SECRET, audience: ROOT };

test('a token for the root URL is accepted', () => {
  expect(checkCaller(bearer(ROOT), expected)).toEqual({ ok: true, email: SA });
});

test.each([
  ['the full request URL (Google’s default audience)', `${ROOT}/deploy`],
  ['another service', 'https://sweeper-abc-uc.a.run.app'],
])('a token whose audience is %s is refused with 403', (_name, audience) => {
  expect(checkCaller(bearer(audience), expected)).toEqual({
    ok: false,
    status: 403,
    reason: `OIDC token audience ${JSON.stringify(audience)} is not this service's root URL ${ROOT}`,
  });
});

test('on GCP (no local secret) the audience claim is checked too', () => {
  const check = checkCaller(bearer(`${ROOT}/deploy`), { ...expected, localSecret: undefined });
  expect(check).toMatchObject({ ok: false, status: 403 });
});
