/**
 * openGate (functions/usecases/gates.ts) refuses a gate whose position
 * disagrees with the plan: a stage whose approval comes before its final
 * promotion opens its gate at `promote`, never `before`, and the other way
 * round. A workflow that asked for the wrong one would hold the wrong thing.
 */
import { openGate, type GateActionDeps } from '../../../functions/usecases/gates';
import { RolloutRecord, type GateRecord } from '../../../functions/domain/records';
import type { GateStore, SlackMessage } from '../../../functions/ports';
import { silentLogger } from '../../../functions/shared/log';
import { stagedPlan } from '../../helpers/staged-plan';

const NOW = new Date('2026-11-30T08:00:00Z');

function setup() {
  const rollout = RolloutRecord.parse({
    id: 'api-1',
    service: 'api',
    project: 'api-production',
    image: 'us-docker.pkg.dev/p/apps/api',
    digest: `sha256:${'a'.repeat(64)}`,
    source: 'manual',
    status: 'RUNNING',
    plan: stagedPlan('api-1'),
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
  });
  const opened: string[] = [];
  const posted: SlackMessage[] = [];
  const deps: GateActionDeps = {
    store: { authorize: async () => ({ rollout, service: {} as never }) },
    gates: {
      openGate: async (_id: string, gate: GateRecord) => (opened.push(gate.name), gate),
    } as unknown as GateStore,
    clock: { now: () => NOW },
    log: silentLogger,
    notifier: { notify: async (m) => (posted.push(m), true) },
  };
  return { deps, opened, posted };
}

const input = { rolloutId: 'api-1', stage: 'production', callbackUrl: 'https://workflowexecutions/cb' };

describe('openGate and the gate position the plan says', () => {
  it('refuses a gate before the stage when the plan holds it before the final promotion, naming the field', async () => {
    const { deps, opened, posted } = setup();
    await expect(openGate(deps, { ...input, position: 'before' })).rejects.toThrow(
      'position: expected promote for the gate of stage production of rollout api-1 (approval before promotion), got before',
    );
    expect({ opened, posted }).toEqual({ opened: [], posted: [] });
  });

  it('opens the gate at the position the plan says, and posts the approval message', async () => {
    const { deps, opened, posted } = setup();
    const { gate } = await openGate(deps, { ...input, position: 'promote' });
    expect(gate).toMatchObject({ name: 'promote-production', position: 'promote', status: 'WAITING' });
    expect({ opened, posts: posted.length }).toEqual({ opened: ['promote-production'], posts: 1 });
  });
});
