/** Which container of a service template receives the new image. */
import { ingressContainer } from '../../../functions/adapters/cloudrun';
import { GlidepathError } from '../../../functions/shared/errors';

const REPO = 'us-docker.pkg.dev/p/apps/api';
const SIDECAR = { name: 'proxy', image: 'us-docker.pkg.dev/p/infra/envoy:1' };

test('a single container is the one, with or without ports', () => {
  expect(ingressContainer([SIDECAR], REPO)).toBe(0);
});

test('the container that declares ports wins, wherever it stands', () => {
  expect(
    ingressContainer(
      [SIDECAR, { name: 'app', image: 'elsewhere/app:1', ports: [{ containerPort: 8080 }] }],
      REPO,
    ),
  ).toBe(1);
});

test("without ports, the container whose image is under the policy's repository", () => {
  expect(ingressContainer([SIDECAR, { name: 'app', image: `${REPO}@sha256:${'a'.repeat(64)}` }], REPO)).toBe(
    1,
  );
});

test.each([
  [
    'two containers declare ports',
    [
      { ...SIDECAR, ports: [{}] },
      { image: `${REPO}:1`, ports: [{}] },
    ],
  ],
  ['no ports and no image under the repository', [SIDECAR, { name: 'b', image: 'other/b:1' }]],
  ['no ports and two images under the repository', [{ image: `${REPO}:1` }, { image: `${REPO}:2` }]],
])('ambiguous when %s: a clear invalid error', (_what, containers) => {
  let err: unknown;
  try {
    ingressContainer(containers, REPO);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(GlidepathError);
  expect((err as GlidepathError).code).toBe('invalid');
  expect((err as GlidepathError).message).toMatch(
    /^cannot tell which container of the service takes the new image: /,
  );
});
