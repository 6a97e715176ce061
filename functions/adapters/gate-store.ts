/**
 * Approval gates in Firestore: each gate lives in its rollout's document
 * (`gates.<name>`), so a decision, the rollout's status and the supersede
 * that ends it are read in one transaction. A recorded decision whose
 * callback is not sent yet also has a document in `gateCallbacks`, written in
 * the same transaction, which the sweeper walks.
 */
import type { Firestore } from '@google-cloud/firestore';
import { describeDecider, planDecision } from '../domain/gates';
import { GateRecord, RolloutRecord } from '../domain/records';
import { parseOrThrow } from '../domain/validation';
import type { GateDecisionRecord, GateStore, PendingGateCallback } from '../ports';
import { GlidepathError } from '../shared/errors';
import { COLLECTIONS, guardFirestore } from './firestore-store';

export const GATE_CALLBACKS = 'gateCallbacks';

interface OutboxEntry {
  rolloutId: string;
  gate: string;
  createdAt: string;
  attempts: number;
  lastError?: string;
}

/** The outbox document of one gate (gate names hold only [a-z0-9-]). */
const outboxId = (rolloutId: string, gate: string): string => `${rolloutId}~${gate}`;

export class FirestoreGateStore implements GateStore {
  constructor(private readonly db: Firestore) {}

  private rolloutDoc(id: string) {
    return this.db.collection(COLLECTIONS.rollouts).doc(id);
  }
  private outboxDoc(rolloutId: string, gate: string) {
    return this.db.collection(GATE_CALLBACKS).doc(outboxId(rolloutId, gate));
  }
  private event(id: string, now: Date, event: Record<string, unknown>) {
    return [
      this.rolloutDoc(id).collection(COLLECTIONS.events).doc(),
      { at: now.toISOString(), ...event },
    ] as const;
  }

  async openGate(rolloutId: string, gate: GateRecord, now: Date): Promise<GateRecord> {
    const opened = parseOrThrow(GateRecord, gate, `gate ${gate.name}`);
    return guardFirestore(`open gate ${gate.name} of ${rolloutId}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.rolloutDoc(rolloutId));
        if (!snap.exists) throw new GlidepathError('not_found', `rollout ${rolloutId} not found`);
        const rollout = parseOrThrow(RolloutRecord, snap.data(), `corrupt rollout ${rolloutId}`);
        const existing = rollout.gates?.[gate.name];
        // A retried open (the action's answer was lost) keeps the first record and its decision.
        if (existing && existing.callbackUrl === opened.callbackUrl) return existing;
        tx.update(this.rolloutDoc(rolloutId), `gates.${gate.name}`, opened, 'updatedAt', now.toISOString());
        tx.set(
          ...this.event(rolloutId, now, {
            type: 'gate_opened',
            message: `waiting for approval at gate ${gate.name} until ${gate.expiresAt} (approvers: ${gate.approvers.join(', ')})`,
            gate: gate.name,
          }),
        );
        return opened;
      }),
    );
  }

  async decide(input: Parameters<GateStore['decide']>[0]): Promise<GateDecisionRecord> {
    return guardFirestore(`decide gate ${input.gate} of ${input.rolloutId}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.rolloutDoc(input.rolloutId));
        const rollout = snap.exists
          ? parseOrThrow(RolloutRecord, snap.data(), `corrupt rollout ${input.rolloutId}`)
          : undefined;
        const plan = planDecision(rollout, input);
        if (plan.kind !== 'record') return plan;
        const { gate } = plan;
        const nowIso = input.now.toISOString();
        tx.update(this.rolloutDoc(plan.rollout.id), `gates.${gate.name}`, gate, 'updatedAt', nowIso);
        const entry: OutboxEntry = {
          rolloutId: plan.rollout.id,
          gate: gate.name,
          createdAt: nowIso,
          attempts: 0,
        };
        tx.create(this.outboxDoc(plan.rollout.id, gate.name), entry);
        tx.set(
          ...this.event(plan.rollout.id, input.now, {
            type: 'gate_decided',
            message: `gate ${gate.name} ${gate.status} by ${describeDecider(input.by)}${gate.reason ? `: ${gate.reason}` : ''}`,
            gate: gate.name,
            decision: gate.decision,
            by: gate.decidedBy,
          }),
        );
        return {
          kind: 'recorded',
          rollout: { ...plan.rollout, gates: { ...plan.rollout.gates, [gate.name]: gate } },
          gate: gate,
        };
      }),
    );
  }

  async callbackSent(rolloutId: string, gate: string, now: Date): Promise<void> {
    await guardFirestore(`mark callback of ${rolloutId}/${gate} sent`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.rolloutDoc(rolloutId));
        if (snap.exists)
          tx.update(this.rolloutDoc(rolloutId), `gates.${gate}.callbackSentAt`, now.toISOString());
        tx.delete(this.outboxDoc(rolloutId, gate));
      }),
    );
  }

  async callbackFailed(
    rolloutId: string,
    gate: string,
    error: string,
    now: Date,
    final: boolean,
  ): Promise<void> {
    await guardFirestore(`record failed callback of ${rolloutId}/${gate}`, () =>
      this.db.runTransaction(async (tx) => {
        const ref = this.outboxDoc(rolloutId, gate);
        const snap = await tx.get(ref);
        if (!snap.exists) return;
        const entry = snap.data() as OutboxEntry;
        if (final) {
          tx.delete(ref);
          tx.set(
            ...this.event(rolloutId, now, {
              type: 'gate_callback_dropped',
              message: `the decision of gate ${gate} was not delivered to the workflow: ${error}`,
              gate,
            }),
          );
        } else tx.update(ref, { attempts: entry.attempts + 1, lastError: error });
      }),
    );
  }

  async pendingCallbacks(limit: number): Promise<PendingGateCallback[]> {
    const snap = await guardFirestore('list pending gate callbacks', () =>
      this.db.collection(GATE_CALLBACKS).orderBy('createdAt').limit(limit).get(),
    );
    const pending: PendingGateCallback[] = [];
    for (const doc of snap.docs) {
      const entry = doc.data() as OutboxEntry;
      const rollout = await this.getRollout(entry.rolloutId);
      const gate = rollout?.gates?.[entry.gate];
      if (!gate?.decision) {
        // The decision and its entry are written together: an entry without one is not ours to guess at.
        throw new GlidepathError(
          'internal',
          `gateCallbacks/${doc.id} names gate ${entry.gate} of rollout ${entry.rolloutId}, which has no recorded decision`,
        );
      }
      pending.push({ rolloutId: entry.rolloutId, gate, attempts: entry.attempts });
    }
    return pending;
  }

  async expireGate(rolloutId: string, gate: string, now: Date): Promise<GateRecord | undefined> {
    return guardFirestore(`expire gate ${gate} of ${rolloutId}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.rolloutDoc(rolloutId));
        if (!snap.exists) return undefined;
        const rollout = parseOrThrow(RolloutRecord, snap.data(), `corrupt rollout ${rolloutId}`);
        const current = rollout.gates?.[gate];
        if (!current || current.status !== 'WAITING') return current;
        const expired: GateRecord = { ...current, status: 'EXPIRED' };
        tx.update(this.rolloutDoc(rolloutId), `gates.${gate}`, expired, 'updatedAt', now.toISOString());
        tx.set(
          ...this.event(rolloutId, now, {
            type: 'gate_expired',
            message: `nobody answered gate ${gate} before ${current.expiresAt}`,
            gate,
          }),
        );
        return expired;
      }),
    );
  }

  private async getRollout(id: string): Promise<RolloutRecord | undefined> {
    const snap = await guardFirestore(`read rollout ${id}`, () => this.rolloutDoc(id).get());
    return snap.exists ? parseOrThrow(RolloutRecord, snap.data(), `corrupt rollout ${id}`) : undefined;
  }
}
