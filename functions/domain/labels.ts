/**
 * Labels of Workflows executions. `Execution.labels` in
 * google/cloud/workflows/executions/v1/executions.proto: keys and values at
 * most 63 characters of lowercase letters, digits, '_' and '-'; keys start
 * with a letter. Values Glidepath derives from names and ids are made to fit.
 */
import { createHash } from 'node:crypto';
import type { RolloutRecord } from './records';

const MAX_LABEL_LENGTH = 63;
const HASH_CHARS = 8;

/**
 * `value` as a label value: lowercased, any other character as '_'. A value
 * longer than 63 characters keeps its first 54 and ends with '-' and 8 hex of
 * its hash, so two long ids that share a prefix keep distinct labels.
 */
export function labelValue(value: string): string {
  const clean = value.toLowerCase().replace(/[^a-z0-9_-]/g, '_');
  if (clean.length <= MAX_LABEL_LENGTH) return clean;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, HASH_CHARS);
  return `${clean.slice(0, MAX_LABEL_LENGTH - HASH_CHARS - 1)}-${hash}`;
}

/** The labels of a rollout's execution. */
export function rolloutLabels(rollout: Pick<RolloutRecord, 'id' | 'service'>): Record<string, string> {
  return { rollout_id: labelValue(rollout.id), service: labelValue(rollout.service) };
}
