/**
 * `glidepath approve | reject` spawned as an operator runs it, against
 * Google's Firestore emulator and a callback endpoint that records what it
 * receives: a stranger is refused and nothing changes, an approver's decision
 * is recorded once and sent with an access token, `status` shows the gate.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';
import { RolloutRecord, ServiceRecord } from '../../../functions/domain/records';
import { LOCAL_ACCESS_TOKEN_AUDIENCE, verifyOidcSignature } from '../../../functions/shared/oidc';

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');
const CLI = join(ROOT, 'scripts/glidepath.js');
const POLICY = join(ROOT, 'test/fixtures/policy.yaml');
const SECRET = 'cli-gates-secret';
const ACTIONS_SA = 'actions@p.iam.gserviceaccount.com';
const D = `sha256:${'c'.repeat(64)}`;

describeWithEmulators('glidepath approve / reject on the emulators', () => {
  const projectId = testProjectId(__filename);
  const env = {
    ...process.env,
    GLIDEPATH_PROJECT: projectId,
    GLIDEPATH_LOCAL_OIDC_SECRET: SECRET,
    GLIDEPATH_LOCAL_ACTIONS_SA: ACTIONS_SA,
  };
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, ...args], { env, cwd: ROOT, timeout: 30_000 });
  const received: { auth: string; body: Record<string, unknown> }[] = [];
  let server: Server;
  let db: Firestore;
  const expiresAt = new Date(Date.now() + 3600_000).toISOString();

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        received.push({ auth: req.headers.authorization ?? '', body: JSON.parse(raw) });
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/projects/p/locations/l/workflows/rollout/executions/e1/callbacks/1_x`;
    db = new Firestore({ projectId, ignoreUndefinedProperties: true });
    const now = new Date().toISOString();
    const rollout = RolloutRecord.parse({
      id: 'api-gated',
      service: 'api',
      project: 'my-project',
      image: `us-docker.pkg.dev/my-project/apps/api@${D}`,
      digest: D,
      source: 'gcr',
      status: 'RUNNING',
      plan: {},
      executionName: 'projects/p/locations/l/workflows/rollout/executions/e1',
      createdAt: now,
      updatedAt: now,
      gates: {
        'before-production': {
          name: 'before-production',
          stage: 'production',
          position: 'before',
          approvers: ['U024BE7LH', 'lead@example.com'],
          status: 'WAITING',
          callbackUrl,
          openedAt: now,
          expiresAt,
        },
      },
    });
    await db.collection('rollouts').doc(rollout.id).set(rollout);
    await db
      .collection('services')
      .doc('api')
      .set(ServiceRecord.parse({ name: 'api', activeRollout: 'api-gated', activeDigest: D, updatedAt: now }));
  });
  afterAll(async () => {
    await db.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('status shows the waiting gate, who may approve it and when it expires', async () => {
    const { stdout } = await cli('status', 'api-gated');
    expect(stdout).toContain(
      `gate before-production: WAITING for one of U024BE7LH, lead@example.com until ${expiresAt}`,
    );
  });

  it('refuses someone who is not an approver, clearly, and changes nothing', async () => {
    const refused = cli('approve', 'api-gated', '--by', 'mallory@example.com', '--config', POLICY);
    await expect(refused).rejects.toMatchObject({
      code: 3,
      stdout: expect.stringMatching(
        /mallory@example.com \(CLI\) is not an approver of gate before-production/,
      ),
    });
    const stored = (await db.doc('rollouts/api-gated').get()).get('gates.before-production');
    expect(stored.status).toBe('WAITING');
    expect(received).toEqual([]);
  });

  it('records an approver’s decision once and sends it to the callback with an access token', async () => {
    const { stdout } = await cli(
      'approve',
      'api-gated',
      '--by',
      'Lead@Example.com',
      '--reason',
      'staging looks fine',
      '--config',
      POLICY,
    );
    expect(stdout).toMatch(/gate before-production of rollout api-gated approved/);
    expect(received).toHaveLength(1);
    expect(received[0].body).toMatchObject({
      decision: 'approve',
      by: 'Lead@Example.com (CLI)',
      reason: 'staging looks fine',
    });
    const claims = verifyOidcSignature(received[0].auth.replace(/^Bearer /, ''), SECRET);
    expect(claims).toMatchObject({ aud: LOCAL_ACCESS_TOKEN_AUDIENCE, email: ACTIONS_SA });

    await expect(
      cli(
        'reject',
        'api-gated',
        '--by',
        'lead@example.com',
        '--gate',
        'before-production',
        '--config',
        POLICY,
      ),
    ).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringMatching(/already approved by Lead@Example.com \(CLI\)/),
    });
    expect(received).toHaveLength(1);
    const { stdout: status } = await cli('status', 'api-gated');
    expect(status).toMatch(
      /gate before-production: APPROVED by Lead@Example.com \(CLI\) at .*: staging looks fine/,
    );
  });
});
