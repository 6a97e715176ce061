/** Approval gates' pure rules: who may decide, when a decision counts, and the approval message's buttons. */
import {
  approvalRequested,
  callbackBody,
  isApprover,
  planDecision,
  type Decider,
} from '../../../functions/domain/gates';
import type { GateRecord, RolloutRecord } from '../../../functions/domain/records';

const alice: Decider = { via: 'slack', id: 'U0ALICE', email: 'alice@example.com', name: 'Alice' };
const bob: Decider = { via: 'cli', id: 'bob@example.com', email: 'bob@example.com' };

const gate = (over: Partial<GateRecord> = {}): GateRecord => ({
  name: 'before-production',
  stage: 'production',
  position: 'before',
  approvers: ['U0ALICE', 'Bob@Example.com'],
  status: 'WAITING',
  callbackUrl: 'http://127.0.0.1:1/v1/callbacks/e/x',
  openedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  ...over,
});

const rollout = (over: Partial<RolloutRecord> = {}): RolloutRecord => ({
  id: 'api-1',
  service: 'api',
  project: 'my-project',
  image: 'us-docker.pkg.dev/p/r/api@sha256:aa',
  digest: 'sha256:aa',
  source: 'manual',
  status: 'RUNNING',
  plan: {},
  regions: {},
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  gates: { 'before-production': gate() },
  ...over,
});

const input = (over: Partial<Parameters<typeof planDecision>[1]> = {}) => ({
  rolloutId: 'api-1',
  gate: 'before-production',
  decision: 'approve' as const,
  by: alice,
  now: new Date('2026-01-01T01:00:00.000Z'),
  ...over,
});

describe('isApprover', () => {
  it('matches a Slack user id exactly and an email case-insensitively', () => {
    expect(isApprover(['U0ALICE'], alice)).toBe(true);
    expect(isApprover(['u0alice'], alice)).toBe(false);
    expect(isApprover(['ALICE@example.COM'], alice)).toBe(true);
    expect(isApprover(['Bob@Example.com'], bob)).toBe(true);
  });

  it('refuses anyone else, and never matches an id against an email entry or a CLI caller against a Slack id', () => {
    expect(isApprover(['U0BOB'], alice)).toBe(false);
    expect(isApprover(['alice@example.com'], { via: 'slack', id: 'alice@example.com' })).toBe(false);
    expect(isApprover(['U0ALICE'], { via: 'cli', id: 'U0ALICE', email: 'x@example.com' })).toBe(false);
    expect(isApprover([], alice)).toBe(false);
  });
});

describe('planDecision', () => {
  it('records an approver’s decision on a waiting gate of a running rollout', () => {
    const plan = planDecision(rollout(), input({ reason: 'staging looks good' }));
    expect(plan).toMatchObject({
      kind: 'record',
      gate: {
        status: 'APPROVED',
        decision: 'approve',
        decidedBy: alice,
        decidedAt: '2026-01-01T01:00:00.000Z',
        reason: 'staging looks good',
      },
    });
    expect(planDecision(rollout(), input({ decision: 'reject', by: bob }))).toMatchObject({
      kind: 'record',
      gate: { status: 'REJECTED', decidedBy: bob },
    });
  });

  it('refuses a decider who is not an approver, naming the approvers', () => {
    const plan = planDecision(rollout(), input({ by: { via: 'slack', id: 'U0MALLORY' } }));
    expect(plan).toEqual({
      kind: 'not_allowed',
      message: expect.stringMatching(/U0MALLORY.*not an approver.*approvers: U0ALICE, Bob@Example.com/),
    });
  });

  it('changes nothing on a second decision and says who decided first', () => {
    const decided = gate({
      status: 'APPROVED',
      decision: 'approve',
      decidedBy: bob,
      decidedAt: '2026-01-01T00:30:00.000Z',
    });
    const plan = planDecision(
      rollout({ gates: { 'before-production': decided } }),
      input({ decision: 'reject' }),
    );
    expect(plan).toEqual({
      kind: 'unchanged',
      message: expect.stringMatching(/already approved by bob@example.com \(CLI\) at 2026-01-01T00:30/),
    });
  });

  it.each([
    [
      'the rollout ended',
      rollout({ status: 'SUPERSEDED', outcomeReason: 'superseded by api-2' }),
      /SUPERSEDED \(superseded by api-2\)/,
    ],
    [
      'the gate expired',
      rollout({ gates: { 'before-production': gate({ status: 'EXPIRED' }) } }),
      /is EXPIRED/,
    ],
    ['there is no such gate', rollout({ gates: {} }), /has no gate before-production/],
    ['there is no such rollout', undefined, /rollout api-1 not found/],
  ])('changes nothing when %s', (_what, r, message) => {
    expect(planDecision(r, input())).toEqual({ kind: 'unchanged', message: expect.stringMatching(message) });
  });

  it('changes nothing once the gate’s timeout has passed, even before the workflow marked it', () => {
    const late = input({ now: new Date('2026-01-02T00:00:00.000Z') });
    expect(planDecision(rollout(), late)).toEqual({
      kind: 'unchanged',
      message: expect.stringMatching(/expired at 2026-01-02T00:00:00.000Z/),
    });
  });
});

describe('approvalRequested', () => {
  it('has the gp_approve and gp_reject buttons carrying the rollout and the gate', () => {
    const msg = approvalRequested(rollout(), gate(), '#deploys');
    const actions = msg.blocks.find((b) => (b as { type: string }).type === 'actions') as {
      elements: { action_id: string; value: string }[];
    };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['gp_approve', 'gp_reject']);
    for (const e of actions.elements)
      expect(JSON.parse(e.value)).toEqual({ rolloutId: 'api-1', gate: 'before-production' });
    expect(msg.channel).toBe('#deploys');
    expect(JSON.stringify(msg.blocks)).toMatch(
      /<@U0ALICE>, Bob@Example.com · expires 2026-01-02T00:00:00.000Z/,
    );
  });
});

describe('callbackBody', () => {
  it('tells the workflow the decision and who made it', () => {
    const plan = planDecision(rollout(), input({ decision: 'reject', reason: 'not today' }));
    if (plan.kind !== 'record') throw new Error(`expected a record, got ${plan.kind}`);
    expect(callbackBody('api-1', plan.gate)).toEqual({
      rolloutId: 'api-1',
      gate: 'before-production',
      decision: 'reject',
      by: 'Alice (Slack U0ALICE)',
      reason: 'not today',
      decidedAt: '2026-01-01T01:00:00.000Z',
    });
  });
});
