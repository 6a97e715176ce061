import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parsePolicyYaml } from '../../../functions/domain/policy';
import { decideIntake } from '../../../functions/domain/intake';
import { parseImageRef, sameRepository } from '../../../functions/domain/image';

const policy = parsePolicyYaml(readFileSync(join(__dirname, '../../fixtures/policy.yaml'), 'utf8'));
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, '../../fixtures/messages', `${name}.json`), 'utf8'));
const encode = (payload: unknown) => ({
  data: Buffer.from(JSON.stringify(payload)).toString('base64'),
  messageId: '1',
});
const D = `sha256:${'b'.repeat(64)}`;

describe('intake decisions on real-format messages', () => {
  it.each([
    ['gcr', 'gcr-insert-tagged', 'rollout', /api ←/],
    ['gcr', 'gcr-insert-untagged', 'ignored', /has no tag: untagged manifests/],
    ['gcr', 'gcr-delete', 'ignored', /DELETE/],
    [
      'gcr',
      'gcr-evil-prefix',
      'ignored',
      /no service or job in the policy uses repository us-docker.pkg.dev\/my-project\/shop\/checkout-evil/,
    ],
    ['gcr', 'gcr-checkout', 'rollout', /checkout ←/],
    // Artifact Registry's INSERTs for manifests Cloud Run cannot run, on a service without tag filters.
    ['gcr', 'gcr-insert-signature', 'ignored', /"sha256-a{64}\.sig" names a signature/],
    ['gcr', 'gcr-insert-attestation', 'ignored', /"sha256-a{64}\.att" names a signature/],
    ['gcr', 'gcr-insert-sbom', 'ignored', /"sha256-a{64}\.sbom" names a signature/],
    ['gcr', 'gcr-insert-referrers', 'ignored', /"sha256-a{64}" names a signature/],
    ['gcr', 'gcr-insert-platform-child', 'ignored', /has no tag: untagged manifests .* never roll out/],
    ['gcr', 'gcr-insert-tag-only', 'ignored', /checkout:v2" carries no digest to pin/],
    ['cloud-builds', 'build-success', 'rollout', /api ←/],
    ['cloud-builds', 'build-failure', 'ignored', /status FAILURE; only SUCCESS/],
    ['cloud-builds', 'build-working', 'ignored', /status WORKING/],
    ['glidepath-deploy-requests', 'manual-ok', 'rollout', /manual redeploy of api by alice@example.com/],
    ['glidepath-deploy-requests', 'manual-foreign-image', 'rejected', /security violation/],
  ])('%s %s → %s', (topic, name, outcome, reason) => {
    const decision = decideIntake(policy, topic, fixture(name));
    expect(decision.outcome).toBe(outcome);
    expect(decision.reason).toMatch(reason);
  });

  it('judges each image of a build on its own: a malformed name never hides a good image', () => {
    const decision = decideIntake(policy, 'cloud-builds', fixture('build-mixed-images'));
    expect(decision.outcome).toBe('rollout');
    expect(decision.outcome === 'rollout' && decision.requests).toEqual([
      expect.objectContaining({ digest: `sha256:${'a'.repeat(64)}`, tag: 'v1.2.4', buildId: 'b-5678' }),
    ]);
    expect(decision.reason).toMatch(/skipped results\.images\[0\]\.name: invalid path segment "Bad_Name"/);
  });

  it('skips an image a build reports without a digest, and rolls out the others', () => {
    const decision = decideIntake(policy, 'cloud-builds', fixture('build-unpinned-image'));
    expect(decision.outcome === 'rollout' && decision.requests.map((r) => r.service.name)).toEqual(['api']);
    expect(decision.reason).toMatch(/results\.images\[0\] ".*checkout:latest" carries no digest to pin/);
  });

  it('rejects a build whose only images are malformed, naming each', () => {
    const decision = decideIntake(
      policy,
      'cloud-builds',
      encode({
        id: 'b-9',
        status: 'SUCCESS',
        results: {
          images: [
            { name: 'us-docker.pkg.dev/my-project/apps/API:v1', digest: D },
            { name: 'us-docker.pkg.dev/my-project/apps/api:v1.0.0', digest: 'sha256:nope' },
          ],
        },
      }),
    );
    expect(decision).toEqual({
      outcome: 'rejected',
      reason:
        'results.images[0].name: invalid path segment "API" in "us-docker.pkg.dev/my-project/apps/API"; ' +
        'results.images[1].digest: expected sha256:<64 hex>, got "sha256:nope"',
    });
  });

  it('never rolls out an artifact tag, even when a tag filter would match it', () => {
    const permissive = parsePolicyYaml(
      readFileSync(join(__dirname, '../../fixtures/policy.yaml'), 'utf8').replace(
        "tags: ['^v\\d+\\.\\d+\\.\\d+$']",
        "tags: ['.*']",
      ),
    );
    expect(permissive.services[0].tags).toEqual(['.*']);
    const signature = encode({
      action: 'INSERT',
      digest: `us-docker.pkg.dev/my-project/apps/api@${D}`,
      tag: `us-docker.pkg.dev/my-project/apps/api:sha256-${'e'.repeat(64)}.sig`,
    });
    expect(decideIntake(permissive, 'gcr', signature).outcome).toBe('ignored');
    const build = encode({
      id: 'b-10',
      status: 'SUCCESS',
      results: {
        images: [{ name: `us-docker.pkg.dev/my-project/apps/api:sha256-${'e'.repeat(64)}.att`, digest: D }],
      },
    });
    expect(decideIntake(permissive, 'cloud-builds', build)).toMatchObject({
      outcome: 'ignored',
      reason: expect.stringMatching(/names a signature, attestation or SBOM/),
    });
  });

  it('carries the commit and build log from a Cloud Build event', () => {
    const decision = decideIntake(policy, 'cloud-builds', fixture('build-success'));
    expect(decision.outcome === 'rollout' && decision.requests[0]).toMatchObject({
      commit: '0123456789abcdef0123456789abcdef01234567',
      buildId: 'b-1234',
      tag: 'v1.2.3',
      source: 'cloud-builds',
    });
  });

  it('applies tag filters to automatic triggers only, never to manual requests', () => {
    const tagged = decideIntake(
      policy,
      'gcr',
      encode({
        action: 'INSERT',
        digest: `us-docker.pkg.dev/my-project/apps/api@${D}`,
        tag: 'us-docker.pkg.dev/my-project/apps/api:latest',
      }),
    );
    expect(tagged).toMatchObject({
      outcome: 'ignored',
      reason: expect.stringMatching(/tag "latest" matches none/),
    });
    const manual = decideIntake(
      policy,
      'glidepath-deploy-requests',
      encode({
        service: 'api',
        image: `us-docker.pkg.dev/my-project/apps/api:latest@${D}`,
        reason: 'r',
        requestedBy: 'bob',
      }),
    );
    expect(manual.outcome).toBe('rollout');
  });

  it('refuses a manual redeploy of a job, saying how a job image is rolled out or back', () => {
    const request = encode({
      service: 'nightly-report',
      image: `us-docker.pkg.dev/my-project/jobs/nightly-report@${D}`,
      reason: 'hotfix',
      requestedBy: 'alice@example.com',
    });
    expect(decideIntake(policy, 'glidepath-deploy-requests', request)).toEqual({
      outcome: 'rejected',
      reason:
        'service: "nightly-report" is a job, and a deploy request redeploys a service; a job\'s image rolls out when it is pushed to its repository (jobs[].image, not set), and `glidepath jobs rollback nightly-report` restores its template from before its last image rollout',
    });
  });

  it('rejects a manual request by tag only, and unknown regions', () => {
    expect(
      decideIntake(
        policy,
        'glidepath-deploy-requests',
        encode({
          service: 'api',
          image: 'us-docker.pkg.dev/my-project/apps/api:v1.0.0',
          reason: 'r',
          requestedBy: 'b',
        }),
      ),
    ).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/image: expected an immutable reference/),
    });
    expect(
      decideIntake(
        policy,
        'glidepath-deploy-requests',
        encode({
          service: 'api',
          image: `us-docker.pkg.dev/my-project/apps/api@${D}`,
          reason: 'r',
          requestedBy: 'b',
          regions: ['mars-north1'],
        }),
      ),
    ).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(
        /regions: expected a subset of us-central1, europe-west1, asia-southeast1, got \["mars-north1"\]/,
      ),
    });
  });

  it.each([
    ['us-docker.pkg.dev/my-project/shop/checkout/../checkout', false],
    ['us-docker.pkg.dev/my-project/shop/./checkout', false],
    ['us-docker.pkg.dev/my-project/shop/check out', false],
    ['us-docker.pkg.dev/my-project/shop/checkout', true],
  ])('image path %s parses: %s', (repo, ok) => {
    expect(parseImageRef(`${repo}@${D}`).ok).toBe(ok);
  });

  it('matches repositories by whole segments', () => {
    expect(
      sameRepository('us-docker.pkg.dev/p/shop/checkout-evil', 'us-docker.pkg.dev/p/shop/checkout'),
    ).toBe(false);
    expect(sameRepository('us-docker.pkg.dev/p/shop/checkout/sub', 'us-docker.pkg.dev/p/shop/checkout')).toBe(
      false,
    );
    expect(sameRepository('us-docker.pkg.dev/p/shop/checkout', 'us-docker.pkg.dev/p/shop/checkout')).toBe(
      true,
    );
  });

  it('rejects, never crashes on, any random payload on any topic', () => {
    const topics = ['gcr', 'cloud-builds', 'glidepath-deploy-requests', 'nope'];
    fc.assert(
      fc.property(
        fc.constantFrom(...topics),
        fc.oneof(fc.anything(), fc.string(), fc.jsonValue()),
        (topic, payload) => {
          const raw =
            typeof payload === 'string'
              ? Buffer.from(payload).toString('base64')
              : Buffer.from(JSON.stringify(payload) ?? '').toString('base64');
          const d = decideIntake(policy, topic, { data: raw, messageId: 'x' });
          expect(['rejected', 'ignored']).toContain(d.outcome);
          expect(d.reason.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
