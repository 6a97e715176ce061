/**
 * decideGate against Google's Firestore emulator: a decision is recorded
 * once, in the same transaction as its callback's outbox entry; a callback
 * that could not be sent is re-sent by the sweeper; late, repeated and
 * superseded decisions change nothing.
 */
import { Firestore } from '@google-cloud/firestore';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';
import { FirestoreRolloutStore } from '../../../functions/adapters/firestore-store';
import { FirestoreGateStore, GATE_CALLBACKS } from '../../../functions/adapters/gate-store';
import { decideGate, resendGateCallbacks, type GateDeps } from '../../../functions/usecases/gates';
import type { GateCallbackBody } from '../../../functions/domain/gates';
import type { GateRecord } from '../../../functions/domain/records';
import type { SlackMessage } from '../../../functions/ports';
import { GlidepathError } from '../../../functions/shared/errors';
import { silentLogger } from '../../../functions/shared/log';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const alice = { via: 'slack' as const, id: 'U0ALICE', name: 'Alice' };
const carol = { via: 'cli' as const, id: 'carol@example.com', email: 'Carol@example.com' };

describeWithEmulators('decideGate on Firestore', () => {
  const db = new Firestore({ projectId: testProjectId(__filename), ignoreUndefinedProperties: true });
  const rollouts = new FirestoreRolloutStore(db);
  const gates = new FirestoreGateStore(db);
  afterAll(() => db.terminate());

  let now = T0;
  let sent: { url: string; body: GateCallbackBody }[] = [];
  let failWith: GlidepathError | undefined;
  let posted: SlackMessage[] = [];
  const deps: GateDeps = {
    gates,
    clock: { now: () => now },
    log: silentLogger,
    notifier: { notify: async (m) => (posted.push(m), true) },
    callbacks: {
      send: async (url, body) => {
        if (failWith) throw failWith;
        sent.push({ url, body });
      },
    },
  };
  beforeEach(() => {
    now = T0;
    sent = [];
    posted = [];
    failWith = undefined;
  });

  /** Admits a rollout of `service`'s image `hex` (superseding the service's running one). */
  const admit = (id: string, service: string, hex: string) =>
    rollouts.admit({
      rollout: {
        id,
        service,
        project: 'my-project',
        image: `us-docker.pkg.dev/p/r/${service}@sha256:${hex}`,
        digest: `sha256:${hex}`,
        source: 'manual',
        plan: {},
      },
      dedupKey: `${id}-dedup`,
      onNewImage: 'supersede',
      now: T0,
      dedupTtlSeconds: 60,
    });

  let n = 0;
  /** A running rollout of its own service, waiting at gate before-production. */
  async function waitingRollout(service = `svc${++n}`): Promise<{ id: string; gate: GateRecord }> {
    const id = `${service}-${++n}`;
    await admit(id, service, String(n).padStart(64, '0'));
    await rollouts.recordExecution(id, `projects/p/locations/l/workflows/rollout/executions/e-${id}`, T0);
    const gate = await gates.openGate(
      id,
      {
        name: 'before-production',
        stage: 'production',
        position: 'before',
        approvers: ['U0ALICE', 'carol@example.com'],
        status: 'WAITING',
        callbackUrl: `http://127.0.0.1:9/v1/callbacks/e-${id}/cb`,
        openedAt: T0.toISOString(),
        expiresAt: new Date(T0.getTime() + 3600_000).toISOString(),
      },
      T0,
    );
    return { id, gate };
  }
  const outbox = async () => (await db.collection(GATE_CALLBACKS).get()).docs.map((d) => d.id).sort();
  const stored = async (id: string) => (await rollouts.getRollout(id))?.gates?.['before-production'];

  it('records the decision, sends the callback with the decision, and empties the outbox', async () => {
    const { id, gate } = await waitingRollout();
    now = new Date(T0.getTime() + 60_000);
    const result = await decideGate(deps, {
      rolloutId: id,
      gate: 'before-production',
      decision: 'approve',
      by: carol,
      reason: 'staging is fine',
    });
    expect(result).toMatchObject({ kind: 'decided', decision: 'approve', rolloutId: id });
    expect(sent).toEqual([
      {
        url: gate.callbackUrl,
        body: {
          rolloutId: id,
          gate: 'before-production',
          decision: 'approve',
          by: 'Carol@example.com (CLI)',
          reason: 'staging is fine',
          decidedAt: '2026-03-01T10:01:00.000Z',
        },
      },
    ]);
    expect(await stored(id)).toMatchObject({
      status: 'APPROVED',
      decidedBy: carol,
      decidedAt: '2026-03-01T10:01:00.000Z',
      callbackSentAt: '2026-03-01T10:01:00.000Z',
    });
    expect(await outbox()).not.toContain(`${id}~before-production`);
    expect(posted.map((m) => m.text)).toEqual([
      expect.stringMatching(/approved gate before-production .* by Carol/),
    ]);
  });

  it('a decision that arrives twice is recorded once: the second says who decided first and sends nothing', async () => {
    const { id } = await waitingRollout();
    const both = await Promise.all([
      decideGate(deps, { rolloutId: id, gate: 'before-production', decision: 'approve', by: alice }),
      decideGate(deps, { rolloutId: id, gate: 'before-production', decision: 'reject', by: carol }),
    ]);
    expect(both.map((r) => r.kind).sort()).toEqual(['decided', 'unchanged']);
    const first = both.find((r) => r.kind === 'decided')!;
    const second = both.find((r) => r.kind === 'unchanged')!;
    expect(sent).toHaveLength(1);
    expect(second.message).toMatch(/already (approved|rejected) by/);
    const gate = await stored(id);
    expect(gate?.decision).toBe((first as { decision: string }).decision);
    const events = await db.collection(`rollouts/${id}/events`).where('type', '==', 'gate_decided').get();
    expect(events.size).toBe(1);
  });

  it('refuses someone who is not an approver and changes nothing', async () => {
    const { id } = await waitingRollout();
    const result = await decideGate(deps, {
      rolloutId: id,
      gate: 'before-production',
      decision: 'approve',
      by: { via: 'slack', id: 'U0MALLORY' },
    });
    expect(result).toEqual({ kind: 'not_allowed', message: expect.stringMatching(/not an approver/) });
    expect(await stored(id)).toMatchObject({ status: 'WAITING' });
    expect((await stored(id))?.decision).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('a decision after the timeout changes nothing', async () => {
    const { id } = await waitingRollout();
    now = new Date(T0.getTime() + 3600_000);
    const result = await decideGate(deps, {
      rolloutId: id,
      gate: 'before-production',
      decision: 'approve',
      by: alice,
    });
    expect(result).toEqual({
      kind: 'unchanged',
      message: expect.stringMatching(/expired at 2026-03-01T11:00/),
    });
    expect((await gates.expireGate(id, 'before-production', now))?.status).toBe('EXPIRED');
    expect((await stored(id))?.decision).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('a decision after the rollout was superseded changes nothing', async () => {
    const { id } = await waitingRollout('superseded');
    await admit('superseded-new', 'superseded', 'f'.repeat(64));
    const result = await decideGate(deps, {
      rolloutId: id,
      gate: 'before-production',
      decision: 'approve',
      by: alice,
    });
    expect(result).toEqual({
      kind: 'unchanged',
      message: expect.stringMatching(/is SUPERSEDED \(superseded by superseded-new\)/),
    });
    expect((await stored(id))?.status).toBe('WAITING');
    expect(sent).toEqual([]);
  });

  it('keeps a decision whose callback failed and the sweeper sends it later; no decision is lost', async () => {
    const { id, gate } = await waitingRollout();
    failWith = new GlidepathError('unavailable', 'connection refused');
    const result = await decideGate(deps, {
      rolloutId: id,
      gate: 'before-production',
      decision: 'reject',
      by: alice,
    });
    expect(result).toMatchObject({ kind: 'decided', message: expect.stringMatching(/sweeper re-sends/) });
    expect(await outbox()).toContain(`${id}~before-production`);
    expect((await stored(id))?.callbackSentAt).toBeUndefined();

    failWith = undefined;
    now = new Date(T0.getTime() + 300_000);
    const swept = await resendGateCallbacks(deps);
    expect(swept.sent).toBeGreaterThanOrEqual(1);
    expect(sent.filter((s) => s.url === gate.callbackUrl)).toEqual([
      { url: gate.callbackUrl, body: expect.objectContaining({ decision: 'reject', rolloutId: id }) },
    ]);
    expect(await outbox()).not.toContain(`${id}~before-production`);
    expect((await stored(id))?.callbackSentAt).toBe('2026-03-01T10:05:00.000Z');
  });

  it('drops the callback of an execution that no longer has it (404), keeping the decision and saying so', async () => {
    const { id } = await waitingRollout();
    failWith = new GlidepathError('not_found', 'HTTP 404 no callback');
    await decideGate(deps, { rolloutId: id, gate: 'before-production', decision: 'approve', by: alice });
    expect(await outbox()).not.toContain(`${id}~before-production`);
    expect((await stored(id))?.status).toBe('APPROVED');
    const dropped = await db
      .collection(`rollouts/${id}/events`)
      .where('type', '==', 'gate_callback_dropped')
      .get();
    expect(dropped.docs.map((d) => d.get('message'))).toEqual([expect.stringMatching(/404 no callback/)]);
  });

  it('opening a gate again (a retried action) keeps the first record and its decision', async () => {
    const { id, gate } = await waitingRollout();
    await decideGate(deps, { rolloutId: id, gate: 'before-production', decision: 'approve', by: alice });
    const again = await gates.openGate(id, gate, new Date(T0.getTime() + 1000));
    expect(again.status).toBe('APPROVED');
    expect((await stored(id))?.status).toBe('APPROVED');
  });
});
