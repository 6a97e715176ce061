/**
 * Each safety invariant check of the chaos suite, shown to pass on a safe
 * observation and to fail on one that breaks it (issue #9: "breaking any
 * one invariant on purpose makes the suite fail").
 */
import {
  checkFailuresNoticed,
  checkFinalTraffic,
  checkJobImageRollout,
  checkGates,
  checkJobRun,
  checkMessages,
  checkOneCandidate,
  type RegionFinal,
} from '../../../emulators/chaos/invariants';
import { RolloutRecord } from '../../../functions/domain/records';
import type { JobRunRecord } from '../../../functions/domain/jobs';
import { JobRolloutRecord } from '../../../functions/domain/job-rollout';

const R = 'us-central1';
function rollout(region: Record<string, unknown>, extra: Record<string, unknown> = {}): RolloutRecord {
  return RolloutRecord.parse({
    id: 'api-1',
    service: 'api',
    project: 'p',
    image: 'i',
    digest: 'sha256:1',
    source: 'gcr',
    status: 'ROLLED_BACK',
    outcomeReason: 'step 1 FAIL',
    plan: {},
    createdAt: '2026-11-22T00:00:00Z',
    updatedAt: '2026-11-22T00:00:00Z',
    regions: { [R]: { stableRevision: 'api-old', candidateRevision: 'api-new', ...region } },
    ...extra,
  });
}
const final = (traffic: Record<string, number>, r: RolloutRecord): RegionFinal => ({
  service: 'api',
  region: R,
  traffic,
  initialRevision: 'api-old',
  rollouts: [r],
});
const pass = [{ index: 0, percent: 10, verdict: 'PASS' }];

describe('final traffic: 100% on the recorded stable revision or an analysed, promoted candidate', () => {
  it('accepts a rollback to stable and a promotion after PASS verdicts', () => {
    expect(
      checkFinalTraffic(
        final({ 'api-old': 100 }, rollout({ status: 'ROLLED_BACK', traffic: { 'api-old': 100 } })),
      ),
    ).toEqual([]);
    expect(
      checkFinalTraffic(
        final({ 'api-new': 100 }, rollout({ status: 'PROMOTED', steps: pass, traffic: { 'api-new': 100 } })),
      ),
    ).toEqual([]);
  });

  it('flags a split left behind', () => {
    const v = checkFinalTraffic(final({ 'api-old': 90, 'api-new': 10 }, rollout({ status: 'ROLLED_BACK' })));
    expect(v).toEqual([
      expect.objectContaining({
        invariant: 'final-traffic',
        detail: expect.stringMatching(/got api-new=10, api-old=90/),
      }),
    ]);
  });

  it('flags a candidate serving without being promoted, or promoted without a PASS at every step', () => {
    expect(
      checkFinalTraffic(
        final({ 'api-new': 100 }, rollout({ status: 'SHIFTING', traffic: { 'api-new': 100 } })),
      )[0].detail,
    ).toMatch(/whose region is SHIFTING, not PROMOTED/);
    const inconclusive = [{ index: 0, percent: 10, verdict: 'INCONCLUSIVE' }];
    expect(
      checkFinalTraffic(
        final(
          { 'api-new': 100 },
          rollout({ status: 'PROMOTED', steps: inconclusive, traffic: { 'api-new': 100 } }),
        ),
      )[0].detail,
    ).toMatch(/promoted without a PASS at every step \(verdicts: INCONCLUSIVE\)/);
  });

  it('flags a revision nobody recorded', () => {
    expect(
      checkFinalTraffic(
        final({ 'api-other': 100 }, rollout({ status: 'ROLLED_BACK', traffic: { 'api-other': 100 } })),
      )[0].detail,
    ).toMatch(/neither a recorded stable revision/);
  });

  it('flags a Firestore record that disagrees with the real traffic', () => {
    const v = checkFinalTraffic(
      final(
        { 'api-old': 100 },
        rollout({ status: 'ROLLED_BACK', traffic: { 'api-old': 100, 'api-new': 10 } }),
      ),
    );
    expect(v).toEqual([expect.objectContaining({ invariant: 'record-matches-traffic' })]);
  });
});

describe('one candidate per service and region at any time', () => {
  it('allows stable plus one candidate and flags a second candidate', () => {
    const change = (weights: Array<[string, number]>) => ({
      service: 'api',
      region: R,
      weights: weights.map(([revision, percent]) => ({ revision, percent })),
    });
    expect(
      checkOneCandidate([
        change([
          ['a', 90],
          ['b', 10],
        ]),
        change([
          ['a', 100],
          ['c', 0],
        ]),
      ]),
    ).toEqual([]);
    expect(
      checkOneCandidate([
        change([
          ['a', 80],
          ['b', 10],
          ['c', 10],
        ]),
      ]),
    ).toEqual([
      expect.objectContaining({
        invariant: 'one-candidate',
        detail: '3 revisions served at once: a=80, b=10, c=10',
      }),
    ]);
  });
});

describe('no message lost or doubled', () => {
  const image = { rollout: { service: 'api', digest: 'sha256:1' } };
  it('accepts one rollout for duplicates and one record per rejected message', () => {
    expect(
      checkMessages(
        [
          { messageId: '1', topic: 'gcr', expect: image },
          { messageId: '2', topic: 'gcr', expect: image },
          { messageId: '3', topic: 'glidepath-deploy-requests', expect: { rejected: true } },
        ],
        { rolloutsByImage: { 'api@sha256:1': ['api-1'] }, deadLettersByMessage: { '3': 1 } },
      ),
    ).toEqual([]);
  });

  it('flags a lost image, a doubled rollout, and a rejection recorded twice or not at all', () => {
    const published = [{ messageId: '1', topic: 'gcr', expect: image }];
    expect(checkMessages(published, { rolloutsByImage: {}, deadLettersByMessage: {} })[0].detail).toMatch(
      /started 0/,
    );
    expect(
      checkMessages(published, {
        rolloutsByImage: { 'api@sha256:1': ['a', 'b'] },
        deadLettersByMessage: {},
      })[0].detail,
    ).toMatch(/started 2/);
    const rejected = [{ messageId: '3', topic: 't', expect: { rejected: true as const } }];
    expect(checkMessages(rejected, { rolloutsByImage: {}, deadLettersByMessage: {} })).toHaveLength(1);
    expect(checkMessages(rejected, { rolloutsByImage: {}, deadLettersByMessage: { '3': 2 } })).toHaveLength(
      1,
    );
  });

  it('accepts an image whose every delivery failed when it was dead-lettered', () => {
    expect(
      checkMessages([{ messageId: '1', topic: 'gcr', expect: image }], {
        rolloutsByImage: {},
        deadLettersByMessage: { '1': 1 },
      }),
    ).toEqual([]);
  });
});

describe('every failure has a reason and a Slack notice', () => {
  it('flags a failure Slack never heard of, and one without a reason', () => {
    const r = rollout({ status: 'ROLLED_BACK', reason: 'FAIL' });
    expect(checkFailuresNoticed([r], ['🛑 Rollout api-1 of api ROLLED_BACK'])).toEqual([]);
    expect(checkFailuresNoticed([r], [])).toEqual([
      expect.objectContaining({ invariant: 'failure-noticed' }),
    ]);
    const silent = rollout({ status: 'ROLLED_BACK', reason: 'FAIL' }, { outcomeReason: ' ' });
    expect(checkFailuresNoticed([silent], ['🛑 Rollout api-1 of api ROLLED_BACK'])[0].detail).toBe(
      'ROLLED_BACK without a reason',
    );
  });
});

describe('job runs: one per trigger, as scripted, one execution per attempt', () => {
  const run = (status: string, attempts: number, classes = ['network']) =>
    ({
      id: 'r1',
      job: 'nightly',
      status,
      attempts: Array.from({ length: attempts }, (_, i) =>
        i < classes.length
          ? { number: i + 1, result: 'FAILED', failureClass: classes[i] }
          : { number: i + 1 },
      ),
    }) as unknown as JobRunRecord;
  const expected = {
    messageId: 'm',
    job: 'nightly',
    status: 'SUCCEEDED' as const,
    attempts: 2,
    classes: ['network' as const],
  };
  it('accepts the scripted outcome', () => {
    expect(checkJobRun(expected, [run('SUCCEEDED', 2)], 2, false, [])).toEqual([]);
  });
  it('flags a doubled run, a doubled execution, a wrong outcome, and a silent dead letter', () => {
    expect(checkJobRun(expected, [run('SUCCEEDED', 2), run('SUCCEEDED', 2)], 4, false, [])[0].detail).toBe(
      'expected one job run, found 2',
    );
    expect(checkJobRun(expected, [run('SUCCEEDED', 2)], 3, false, [])[0].detail).toMatch(
      /3 Cloud Run execution/,
    );
    expect(checkJobRun(expected, [run('FAILED', 3)], 3, true, ['❌ Job nightly failed'])[0].detail).toMatch(
      /expected SUCCEEDED after 2/,
    );
    const failed = { ...expected, status: 'FAILED' as const, attempts: 3, classes: ['network' as const] };
    expect(checkJobRun(failed, [run('FAILED', 3)], 3, false, []).map((v) => v.detail)).toEqual([
      'failed run without a dead-letter record',
      'failed run but Slack never heard of it',
    ]);
  });
  it('flags a killed run that the sweeper did not end', () => {
    const killed = { ...expected, status: 'FAILED' as const, attempts: 1, classes: [], killed: true };
    const dead = (endReason?: string) => ({ ...run('FAILED', 1, []), ...(endReason ? { endReason } : {}) });
    const told = ['❌ Job nightly failed'];
    expect(
      checkJobRun(killed, [dead('ended by the sweeper: workflow execution e is CANCELLED')], 1, true, told),
    ).toEqual([]);
    expect(checkJobRun(killed, [dead()], 1, true, told)).toEqual([
      {
        invariant: 'sweeper-ends-dead-runs',
        subject: 'job nightly message m',
        detail: "its job-run execution was killed but the run ended FAILED without the sweeper's reason",
      },
    ]);
  });
  it('flags a recorded class that does not match the injected cause', () => {
    expect(checkJobRun(expected, [run('SUCCEEDED', 2, ['exit-code'])], 2, false, [])).toEqual([
      {
        invariant: 'failure-class',
        subject: 'job nightly message m',
        detail: 'expected failure classes [network], recorded [exit-code]',
      },
    ]);
  });
});

describe('job image rollouts: templates restored, one verification per region reached, the injected class', () => {
  const US = 'us-central1';
  const EU = 'europe-west1';
  const OLD = '{"image":"old"}';
  const NEW = '{"image":"new"}';
  const IMAGE = 'us-docker.pkg.dev/p/jobs/ledger@sha256:2';
  const expected = {
    job: 'ledger',
    rolloutId: 'ledger-1',
    image: IMAGE,
    regions: [US, EU],
    failing: { region: EU, class: 'out-of-memory' as const },
  };
  const record = (status: string, regions: Record<string, Record<string, unknown>>) =>
    JobRolloutRecord.parse({
      id: 'ledger-1',
      job: 'ledger',
      project: 'p',
      repository: 'us-docker.pkg.dev/p/jobs/ledger',
      digest: 'sha256:2',
      image: IMAGE,
      source: 'gcr',
      status,
      waves: [[US], [EU]],
      regions,
      createdAt: '2026-11-30T00:00:00Z',
      updatedAt: '2026-11-30T00:00:00Z',
    });
  const failedInEu = record('FAILED', {
    [US]: { status: 'RESTORED' },
    [EU]: { status: 'FAILED', failureClass: 'out-of-memory' },
  });
  const region = (after: string, verifications: number) => ({
    before: OLD,
    after,
    afterImages: [after === OLD ? 'old' : IMAGE],
    verifications,
  });
  const slack = ['❌ Job ledger: image v2 was rolled back (europe-west1 [out-of-memory]: …)'];

  it('accepts a failure in the second wave with both regions restored, and a success everywhere', () => {
    const observed = { records: [failedInEu], regions: { [US]: region(OLD, 1), [EU]: region(OLD, 1) } };
    expect(checkJobImageRollout(expected, observed, slack)).toEqual([]);
    const { failing: _none, ...good } = expected;
    const succeeded = record('SUCCEEDED', { [US]: { status: 'VERIFIED' }, [EU]: { status: 'VERIFIED' } });
    expect(
      checkJobImageRollout(
        good,
        { records: [succeeded], regions: { [US]: region(NEW, 1), [EU]: region(NEW, 1) } },
        [],
      ),
    ).toEqual([]);
  });

  it('flags a template left with the new image after a failure, in a verified region', () => {
    const observed = { records: [failedInEu], regions: { [US]: region(NEW, 1), [EU]: region(OLD, 1) } };
    expect(checkJobImageRollout(expected, observed, slack)).toEqual([
      expect.objectContaining({
        invariant: 'job-template-restored',
        subject: `job ledger rollout ledger-1/${US}`,
      }),
    ]);
  });

  it('flags two verifications in a region, and one in a wave after the failure', () => {
    const failedInUs = record('FAILED', {
      [US]: { status: 'FAILED', failureClass: 'out-of-memory' },
      [EU]: { status: 'PENDING' },
    });
    const observed = { records: [failedInUs], regions: { [US]: region(OLD, 2), [EU]: region(OLD, 1) } };
    const violations = checkJobImageRollout(
      { ...expected, failing: { ...expected.failing, region: US } },
      observed,
      slack,
    );
    expect(violations.map((v) => [v.invariant, v.subject])).toEqual([
      ['one-verification', `job ledger rollout ledger-1/${US}`],
      ['one-verification', `job ledger rollout ledger-1/${EU}`],
    ]);
  });

  it('flags a recorded class that does not match the injected cause, and a failure Slack never heard of', () => {
    const misclassified = record('FAILED', {
      [US]: { status: 'RESTORED' },
      [EU]: { status: 'FAILED', failureClass: 'exit-code' },
    });
    const observed = { records: [misclassified], regions: { [US]: region(OLD, 1), [EU]: region(OLD, 1) } };
    expect(checkJobImageRollout(expected, observed, []).map((v) => v.invariant)).toEqual([
      'failure-class',
      'failure-noticed',
    ]);
  });

  it('flags a second rollout of the same image, and the wrong outcome', () => {
    const observed = {
      records: [failedInEu, failedInEu],
      regions: { [US]: region(OLD, 1), [EU]: region(OLD, 1) },
    };
    expect(checkJobImageRollout(expected, observed, slack).map((v) => v.invariant)).toEqual([
      'job-accounting',
    ]);
    const { failing: _none, ...good } = expected;
    const one = { ...observed, records: [failedInEu] };
    expect(checkJobImageRollout(good, one, slack).map((v) => v.invariant)).toContain('job-accounting');
  });

  it('accepts a killed rollout the sweeper ended with the first region restored, and flags one ended otherwise or left running', () => {
    const { failing: _none, ...good } = expected;
    const killed = { ...good, killed: true };
    const regions = { [US]: region(OLD, 1), [EU]: region(OLD, 0) };
    const swept = (reason: string, status = 'FAILED') => ({
      records: [{ ...record(status, { [US]: { status: 'RESTORED' }, [EU]: { status: 'PENDING' } }), reason }],
      regions,
    });
    expect(
      checkJobImageRollout(killed, swept('ended by the sweeper: workflow execution e1 is CANCELLED'), slack),
    ).toEqual([]);
    expect(
      checkJobImageRollout(killed, swept('the job-rollout workflow failed, {}'), slack).map(
        (v) => v.invariant,
      ),
    ).toEqual(['sweeper-ends-dead-job-rollouts']);
    expect(checkJobImageRollout(killed, swept('', 'RUNNING'), slack).map((v) => v.invariant)).toEqual([
      'job-accounting',
      'sweeper-ends-dead-job-rollouts',
    ]);
  });
});

describe('approval gates: one decision, told once; a rejected or expired gate promotes nothing', () => {
  const gate = (extra: Record<string, unknown>) => ({
    name: 'promote-production',
    stage: 'production',
    position: 'promote',
    approvers: ['ULEAD'],
    callbackUrl: 'http://cb',
    openedAt: '2026-11-22T00:00:00Z',
    expiresAt: '2026-11-22T01:00:00Z',
    ...extra,
  });
  const lead = { via: 'slack', id: 'ULEAD' };
  const decided = (decision: 'approve' | 'reject') =>
    gate({
      status: decision === 'approve' ? 'APPROVED' : 'REJECTED',
      decision,
      decidedBy: lead,
      decidedAt: '2026-11-22T00:10:00Z',
    });
  const gated = (status: string, regionStatus: string, g: Record<string, unknown>) =>
    rollout(
      { status: regionStatus, steps: [{ index: 0, percent: 50, verdict: 'PASS' }] },
      {
        status,
        plan: { stages: [{ name: 'production', waves: [{ regions: [R] }] }] },
        gates: { 'promote-production': g },
      },
    );
  const told = (verb: string) => [`👎 ${verb} gate promote-production of api (rollout api-1) by Lead`];

  it('accepts a rejection that rolled the canary back, told once', () => {
    expect(checkGates([gated('REJECTED', 'ROLLED_BACK', decided('reject'))], told('rejected'))).toEqual([]);
    expect(checkGates([gated('PROMOTED', 'PROMOTED', decided('approve'))], told('approved'))).toEqual([]);
    expect(checkGates([gated('EXPIRED', 'ROLLED_BACK', gate({ status: 'EXPIRED' }))], [])).toEqual([]);
  });

  it('flags a rejected or expired gate whose region was promoted, or whose rollout ended otherwise', () => {
    expect(checkGates([gated('REJECTED', 'PROMOTED', decided('reject'))], told('rejected'))).toMatchObject([
      { invariant: 'gate-consistent', detail: 'gate REJECTED but the region was promoted' },
    ]);
    expect(checkGates([gated('PROMOTED', 'ROLLED_BACK', gate({ status: 'EXPIRED' }))], [])).toMatchObject([
      {
        invariant: 'gate-consistent',
        detail: expect.stringMatching(/gate EXPIRED but the rollout ended PROMOTED/),
      },
    ]);
    expect(
      checkGates([gated('REJECTED', 'ROLLED_BACK', decided('approve'))], told('approved')),
    ).toMatchObject([
      { invariant: 'gate-consistent', detail: 'gate APPROVED but the rollout ended REJECTED' },
    ]);
  });

  it('flags a decision told twice or never, and a decision post for an undecided gate', () => {
    const r = gated('REJECTED', 'ROLLED_BACK', decided('reject'));
    expect(checkGates([r], [...told('rejected'), ...told('rejected')])).toMatchObject([
      { invariant: 'gate-consistent', detail: 'expected one decision post for a gate REJECTED, got 2' },
    ]);
    expect(checkGates([r], [])).toMatchObject([
      { detail: 'expected one decision post for a gate REJECTED, got 0' },
    ]);
    expect(
      checkGates([gated('EXPIRED', 'ROLLED_BACK', gate({ status: 'EXPIRED' }))], told('approved')),
    ).toMatchObject([{ detail: 'expected no decision post for a gate EXPIRED, got 1' }]);
  });

  it('flags a late click that was recorded, and a gate left waiting on a rollout that ended by it', () => {
    const late = gated('EXPIRED', 'ROLLED_BACK', { ...decided('approve'), status: 'EXPIRED' });
    expect(
      checkGates([late], told('approved'), [{ rolloutId: 'api-1', undecided: ['promote-production'] }]),
    ).toMatchObject([
      {
        invariant: 'gate-consistent',
        detail: expect.stringMatching(/a click after the gate expired .* was recorded/),
      },
    ]);
    expect(checkGates([gated('PROMOTED', 'PROMOTED', gate({ status: 'WAITING' }))], [])).toMatchObject([
      { detail: 'still WAITING on a rollout PROMOTED' },
    ]);
    // A superseded rollout's execution may still be waiting: that is not the gate's doing.
    expect(checkGates([gated('SUPERSEDED', 'ROLLED_BACK', gate({ status: 'WAITING' }))], [])).toEqual([]);
  });
});
