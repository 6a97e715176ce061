/**
 * The Slack click use case (functions/usecases/interactions.ts) on the
 * in-memory store: who may stop a rollout, what a second click or a click on
 * an ended rollout does, what the channel and the clicking user are told.
 */
import { handleClick, type InteractionDeps } from '../../../functions/usecases/interactions';
import { recordStop, stopRollout } from '../../../functions/usecases/rollout';
import { handleRolloutStop } from '../../../functions/usecases/stops';
import type { RolloutStop } from '../../../functions/domain/messages';
import type { BlockActionsPayload } from '../../../functions/domain/interactions';
import type { Policy } from '../../../functions/domain/policy';
import type { SlackResponse } from '../../../functions/ports';
import {
  EXECUTION,
  REGION,
  STABLE,
  admitQueued,
  admitRunning,
  lastWrite,
  serveStable,
  world,
  type World,
} from '../../helpers/fast-rollout';
import { deploy, shift, smoke } from '../../../functions/usecases/rollout';
import { sweep } from '../../../functions/usecases/sweep';
import { DEFAULT_SWEEP_SETTINGS } from '../../../functions/domain/sweep';

const OPERATOR = { id: 'UOPS1', name: 'ops-alice' };
const STRANGER = { id: 'UOTHER9', name: 'bob' };
const URL = 'https://hooks.slack.com/actions/T0/1/abc';
const ORIGINAL = {
  text: '🚀 Rollout r1 of api started',
  blocks: [
    { type: 'section', text: { type: 'mrkdwn', text: 'started' } },
    { type: 'actions', block_id: 'gp_rollout_controls', elements: [] },
  ],
};

function click(actionId: string, value: unknown, user = OPERATOR): BlockActionsPayload {
  return {
    type: 'block_actions',
    user,
    response_url: URL,
    actions: [{ action_id: actionId, value: typeof value === 'string' ? value : JSON.stringify(value) }],
    message: ORIGINAL,
  };
}

/** Rollout `id` deployed in REGION and shifted to its first step (10%). */
async function atFirstStep(w: World, id: string): Promise<void> {
  serveStable(w);
  await admitRunning(w, id);
  await deploy(w.deps, id, REGION, 'e1');
  await smoke(w.deps, id, REGION, 'e1');
  await shift(w.deps, id, REGION, 0, 'e1');
}

function setup(operators?: string[]) {
  const w: World = world();
  const answers: Array<{ url: string; response: SlackResponse }> = [];
  const gateCalls: unknown[] = [];
  /** What slack-interactions published to glidepath-rollout-stops, not yet delivered. */
  const published: RolloutStop[] = [];
  const rejected: unknown[] = [];
  const deps: InteractionDeps = {
    store: w.store,
    policy: {
      services: [{ name: 'api', ...(operators ? { operators } : {}) }],
      jobs: [],
    } as unknown as Policy,
    clock: w.deps.clock,
    log: w.deps.log,
    responder: { respond: async (url, response) => (answers.push({ url, response }), true) },
    decideGate: async (input) => {
      gateCalls.push(input);
      return {
        kind: 'decided',
        rolloutId: input.rolloutId,
        gate: input.gate,
        decision: input.decision,
        message: 'gate ok',
      };
    },
    recordStop: (id, status, reason) => recordStop(w.deps, id, status, reason),
    publishStop: async (stop) => void published.push(stop),
  };
  /** Delivers `stop` to the rollout-stops worker as Pub/Sub would push it. */
  const deliver = (stop: unknown, messageId = '1') =>
    handleRolloutStop(
      {
        ...w.deps,
        responder: deps.responder,
        deadLetters: { createDeadLetter: async (r) => (rejected.push(r), true) },
      },
      { messageId, data: Buffer.from(JSON.stringify(stop)).toString('base64') },
    );
  return { w, deps, answers, gateCalls, published, deliver, rejected };
}

describe('handleClick: Abort and Roll back now', () => {
  it('refuses a user who is not an operator, ephemerally, and changes nothing', async () => {
    const { w, deps, answers } = setup(['UOPS1']);
    await admitRunning(w, 'r1');
    const outcome = await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }, STRANGER));
    expect(outcome.kind).toBe('not_allowed');
    expect(answers).toEqual([
      {
        url: URL,
        response: {
          response_type: 'ephemeral',
          replace_original: false,
          text: '<@UOTHER9> may not Abort rollout r1: only the operators of api may (<@UOPS1>). Nothing changed.',
        },
      },
    ]);
    expect((await w.store.getRollout('r1'))!.status).toBe('RUNNING');
    expect(w.cancelled).toEqual([]);
  });

  it("lets the service's stage approvers stop it when it lists no operators", async () => {
    const { w, deps } = setup();
    deps.policy = {
      services: [
        {
          name: 'api',
          stages: [
            { name: 'staging', approval: { approvers: ['ULEAD1', 'lead@example.com'] } },
            { name: 'production', approval: { approvers: ['UOPS1', 'ULEAD1'] } },
          ],
        },
      ],
      jobs: [],
    } as unknown as Policy;
    await admitRunning(w, 'r1');
    const refused = await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }, STRANGER));
    expect(refused.message).toBe(
      '<@UOTHER9> may not Abort rollout r1: only the operators of api may (<@ULEAD1>, lead@example.com, <@UOPS1>). Nothing changed.',
    );
    expect((await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }))).kind).toBe('decided');
  });

  it('refuses everyone when the service lists no operators and no approvers', async () => {
    const { w, deps } = setup();
    await admitRunning(w, 'r1');
    const outcome = await handleClick(deps, click('gp_rollback', { rolloutId: 'r1' }));
    expect(outcome).toEqual({
      kind: 'not_allowed',
      message:
        '<@UOPS1> may not Roll back now rollout r1: only the operators of api may (its policy lists none). Nothing changed.',
    });
    expect((await w.store.getRollout('r1'))!.status).toBe('RUNNING');
  });

  it('aborts for an operator: execution cancelled, who/when/why recorded, the message replaced without buttons, the restore handed to the worker', async () => {
    const { w, deps, answers, published } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    const outcome = await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }));
    const aborting =
      '🛑 Aborting: stopped by <@UOPS1> at 2026-11-30T08:00:00.000Z; rollout r1 is ABORTED, restoring 1 region';
    expect(outcome).toMatchObject({ kind: 'decided', message: aborting });
    const stored = (await w.store.getRollout('r1'))!;
    expect(stored.status).toBe('ABORTED');
    const reason = 'aborted by ops-alice (Slack UOPS1) with the Abort button at 2026-11-30T08:00:00.000Z';
    expect(stored.outcomeReason).toBe(reason);
    expect(stored.endedAt).toBe('2026-11-30T08:00:00.000Z');
    expect(w.cancelled).toEqual([EXECUTION]);
    // Nothing restored within the click's request: the stable revision still serves 90%.
    expect(stored.regions[REGION].status).not.toBe('ROLLED_BACK');
    expect(lastWrite(w)).toContainEqual(expect.objectContaining({ revision: STABLE, percent: 90 }));
    expect(answers).toEqual([
      {
        url: URL,
        response: {
          replace_original: true,
          text: `${ORIGINAL.text}\n${aborting}`,
          blocks: [ORIGINAL.blocks[0], { type: 'context', elements: [{ type: 'mrkdwn', text: aborting }] }],
        },
      },
    ]);
    expect(published).toEqual([
      {
        rolloutId: 'r1',
        status: 'ABORTED',
        reason,
        by: 'UOPS1',
        at: '2026-11-30T08:00:00.000Z',
        responseUrl: URL,
        original: ORIGINAL,
      },
    ]);
  });

  it('the worker restores the regions, posts the end and replaces the message with the result, once under redelivery', async () => {
    const { w, deps, answers, published, deliver } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    await handleClick(deps, click('gp_rollback', { rolloutId: 'r1' }));
    const postsBefore = w.slack.length;
    expect(await deliver(published[0])).toEqual({
      outcome: 'settled',
      reason:
        '⏪ Rolled back by <@UOPS1> at 2026-11-30T08:00:00.000Z: rollout r1 is ROLLED_BACK, 1 region restored',
    });
    expect((await w.store.getRollout('r1'))!.regions[REGION].status).toBe('ROLLED_BACK');
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
    const ends = () => w.slack.filter((m) => /ROLLED_BACK/.test(m.text) && /r1/.test(m.text)).length;
    expect({ posts: w.slack.length - postsBefore, ends: ends() }).toEqual({ posts: 2, ends: 1 }); // region + end
    expect(answers.map((a) => a.response.text)).toEqual([
      `${ORIGINAL.text}\n⏪ Rolling back: stopped by <@UOPS1> at 2026-11-30T08:00:00.000Z; rollout r1 is ROLLED_BACK, restoring 1 region`,
      `${ORIGINAL.text}\n⏪ Rolled back by <@UOPS1> at 2026-11-30T08:00:00.000Z: rollout r1 is ROLLED_BACK, 1 region restored`,
    ]);
    // Pub/Sub redelivers (at-least-once): nothing restored, posted or answered again.
    const writes = w.run.writes.length;
    const posts = w.slack.length;
    expect((await deliver(published[0], '2')).outcome).toBe('settled');
    expect({ writes: w.run.writes.length, posts: w.slack.length, answers: answers.length }).toEqual({
      writes,
      posts,
      answers: 2,
    });
  });

  it('answers the click before any region is restored, even when the worker runs at once', async () => {
    const { w, deps, deliver } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    const seen: Array<{ text: string; restoreWrites: number }> = [];
    const writesBefore = w.run.writes.length;
    deps.responder = {
      respond: async (_url, response) => (
        seen.push({ text: response.text, restoreWrites: w.run.writes.length - writesBefore }),
        true
      ),
    };
    // An instant worker: the message is delivered as soon as it is published.
    deps.publishStop = async (stop) => void (await deliver(stop));
    await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }));
    expect(seen).toEqual([
      { text: expect.stringContaining('🛑 Aborting: stopped by <@UOPS1>'), restoreWrites: 0 },
      { text: expect.stringContaining('🛑 Aborted by <@UOPS1>'), restoreWrites: 1 },
    ]);
  });

  it('a stop message for an unknown rollout, or one that ended otherwise, changes nothing and is acknowledged', async () => {
    const { w, deliver, answers } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    const stop = {
      rolloutId: 'r1',
      status: 'ABORTED',
      reason: 'aborted by x',
      by: 'UOPS1',
      at: '2026-11-30T08:00:00.000Z',
      responseUrl: URL,
    };
    expect(await deliver({ ...stop, rolloutId: 'nope' })).toEqual({
      outcome: 'unchanged',
      reason: 'rollout nope not found',
    });
    await w.store.finish('r1', 'PROMOTED', 'promoted in every region', w.now());
    const writes = w.run.writes.length;
    const posts = w.slack.length;
    expect(await deliver(stop)).toEqual({
      outcome: 'unchanged',
      reason: 'rollout r1 ended PROMOTED (promoted in every region), not by this stop',
    });
    expect({ writes: w.run.writes.length, posts: w.slack.length, answers }).toEqual({
      writes,
      posts,
      answers: [],
    });
  });

  it('a malformed stop message is recorded as rejected with the field named, and acknowledged', async () => {
    const { w, deliver, rejected } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    const result = await deliver({ rolloutId: 'r1', status: 'PAUSED', reason: 'x', by: 'U1', at: 'now' });
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^invalid rollout stop: status: .*; at: /);
    expect(rejected).toEqual([
      expect.objectContaining({ kind: 'rejected', source: 'glidepath-rollout-stops', reason: result.reason }),
    ]);
    expect((await w.store.getRollout('r1'))!.status).toBe('RUNNING');
  });

  it('a second click, even a different button, changes nothing and says how the rollout ended', async () => {
    const { w, deps, answers } = setup(['UOPS1']);
    await admitRunning(w, 'r1');
    await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }));
    w.tick(30);
    const again = await handleClick(deps, click('gp_rollback', { rolloutId: 'r1' }));
    expect(again).toEqual({
      kind: 'unchanged',
      message:
        'rollout r1 already ended ABORTED (aborted by ops-alice (Slack UOPS1) with the Abort button at 2026-11-30T08:00:00.000Z): nothing changed',
    });
    expect(answers[1].response).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect((await w.store.getRollout('r1'))!.status).toBe('ABORTED');
    expect(w.cancelled).toEqual([EXECUTION]);
  });

  it('a click on a rollout that was superseded changes nothing', async () => {
    const { w, deps } = setup(['UOPS1']);
    await admitRunning(w, 'r1');
    await admitRunning(w, 'r2', { digest: `sha256:${'d'.repeat(64)}` }); // supersedes r1
    const outcome = await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }));
    expect(outcome.kind).toBe('unchanged');
    expect(outcome.message).toMatch(/^rollout r1 already ended SUPERSEDED/);
    expect((await w.store.getRollout('r2'))!.status).toBe('RUNNING');
  });

  it('a button value that is not ours is refused naming the field; an unknown button too', async () => {
    const { deps } = setup(['UOPS1']);
    expect(await handleClick(deps, click('gp_abort', 'not json'))).toEqual({
      kind: 'invalid',
      message: 'actions[0].value of gp_abort: expected a JSON object, got "not json"',
    });
    expect((await handleClick(deps, click('gp_abort', { rollout: 'r1' }))).message).toMatch(
      /^gp_abort button value: value/,
    );
    expect((await handleClick(deps, click('gp_nuke', {}))).message).toBe(
      'action_id: expected one of gp_approve, gp_reject, gp_abort, gp_rollback, got "gp_nuke"',
    );
  });
});

describe('handleClick: Approve and Reject', () => {
  it('passes the decision, the Slack user and the reason to decideGate, and shows the channel', async () => {
    const { deps, answers, gateCalls } = setup();
    const outcome = await handleClick(
      deps,
      click('gp_reject', { rolloutId: 'r1', gate: 'before-production' }, STRANGER),
    );
    expect(gateCalls).toEqual([
      {
        rolloutId: 'r1',
        gate: 'before-production',
        decision: 'reject',
        by: { via: 'slack', id: 'UOTHER9', name: 'bob' },
        reason: 'Reject clicked in Slack',
      },
    ]);
    expect(outcome).toEqual({
      kind: 'decided',
      message: '👎 Rejected by <@UOTHER9> at 2026-11-30T08:00:00.000Z: gate ok',
    });
    expect(answers[0].response.replace_original).toBe(true);
  });

  it('tells only the clicking user when decideGate refuses or changes nothing', async () => {
    const { deps, answers } = setup();
    deps.decideGate = async () => ({ kind: 'not_allowed', message: 'bob is not an approver' });
    expect(await handleClick(deps, click('gp_approve', { rolloutId: 'r1', gate: 'g' }))).toEqual({
      kind: 'not_allowed',
      message: 'bob is not an approver',
    });
    expect(answers[0].response).toEqual({
      response_type: 'ephemeral',
      replace_original: false,
      text: 'bob is not an approver',
    });
  });
});

describe('stopRollout', () => {
  it('leaves a rollout that promoted in the meantime as it is: no rollback, stopped false', async () => {
    const { w } = setup();
    await admitRunning(w, 'r1');
    await w.store.finish('r1', 'PROMOTED', 'promoted in every region', w.now());
    const { rollout, stopped } = await stopRollout(w.deps, 'r1', 'ROLLED_BACK', 'rolled back by x');
    expect({ status: rollout.status, stopped }).toEqual({ status: 'PROMOTED', stopped: false });
  });
});

describe('stopRollout and a queued rollout', () => {
  it('starts the rollout queued behind the one it stops, which then holds the lease', async () => {
    const { w } = setup();
    await admitRunning(w, 'r1');
    const queued = await admitQueued(w, 'r2', `sha256:${'e'.repeat(64)}`);
    await stopRollout(w.deps, 'r1', 'ABORTED', 'aborted by x');
    expect(w.started).toEqual([{ workflow: 'rollout', argument: queued.plan }]);
    expect(await w.store.getRollout('r2')).toMatchObject({ status: 'RUNNING' });
    expect(await w.store.getService('api')).toMatchObject({ activeRollout: 'r2' });
  });
});

describe('the sweeper, when the rollout-stops message is lost', () => {
  it("takes a stopped rollout's canary back at its next run and posts its end once", async () => {
    const { w, deps, published, deliver } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }));
    expect(published).toHaveLength(1); // never delivered
    expect(lastWrite(w)).toContainEqual(expect.objectContaining({ revision: STABLE, percent: 90 }));
    w.executions.set(EXECUTION, { state: 'CANCELLED' });
    const sweepNow = () =>
      sweep({
        ...w.deps,
        outbox: { flush: async () => ({ delivered: 0, pending: 0 }) },
        settings: DEFAULT_SWEEP_SETTINGS,
      });
    // Within the grace the worker may still be on it (Pub/Sub retries): the sweeper leaves it alone.
    w.tick(DEFAULT_SWEEP_SETTINGS.heartbeatGraceSeconds);
    expect((await sweepNow()).recovered).toEqual([]);
    expect((await w.store.getRollout('r1'))!.regions[REGION].status).not.toBe('ROLLED_BACK');
    w.tick(1);
    const report = await sweepNow();
    expect(report.recovered).toEqual([expect.objectContaining({ rolloutId: 'r1', regions: [REGION] })]);
    expect((await w.store.getRollout('r1'))!.regions[REGION].status).toBe('ROLLED_BACK');
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
    expect((await w.store.getService('api'))!.candidates).toEqual({});
    // Settled as the worker would have: the end posted, once, even when the message arrives after all.
    const ends = () => w.slack.filter((m) => m.text.includes('r1') && m.text.includes('ABORTED')).length;
    expect(ends()).toBe(1);
    expect((await deliver(published[0])).outcome).toBe('settled');
    expect(ends()).toBe(1);
  });

  it('settles a lost stop: the rollout queued behind it is started', async () => {
    const { w, deps, published } = setup(['UOPS1']);
    await atFirstStep(w, 'r1');
    await admitQueued(w, 'r2', `sha256:${'e'.repeat(64)}`);
    await handleClick(deps, click('gp_abort', { rolloutId: 'r1' }));
    expect(published).toHaveLength(1); // never delivered
    w.executions.set(EXECUTION, { state: 'CANCELLED' });
    // The execution the sweeper will start for r2 (the fake launcher names them e2, e3, …) runs.
    w.executions.set(EXECUTION.replace(/e1$/, 'e2'), { state: 'ACTIVE' });
    w.tick(DEFAULT_SWEEP_SETTINGS.heartbeatGraceSeconds + 1);
    await sweep({
      ...w.deps,
      outbox: { flush: async () => ({ delivered: 0, pending: 0 }) },
      settings: DEFAULT_SWEEP_SETTINGS,
    });
    expect(w.started).toEqual([
      { workflow: 'rollout', argument: expect.objectContaining({ rolloutId: 'r2' }) },
    ]);
    expect(await w.store.getRollout('r2')).toMatchObject({ status: 'RUNNING' });
  });
});
