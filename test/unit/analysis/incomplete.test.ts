/** An answer Cloud Monitoring flagged incomplete never passes (issue #13, item 8). */
import { judge, type JudgeInput } from '../../../functions/domain/analysis/judge';
import { SETTINGS, revision } from './helpers';

const healthy = (): JudgeInput => ({
  canary: revision('canary', 10, 600, 0.001),
  stable: revision('stable', 10, 5400, 0.001),
  settings: SETTINGS,
  elapsedSeconds: 600,
});

test('the same figures PASS when complete', () => {
  expect(judge(healthy()).verdict).toBe('PASS');
});

test.each([
  ['canary', 'canary canary: '],
  ['stable', 'stable stable: '],
] as const)('an incomplete %s answer is INCONCLUSIVE with the reason', (which, prefix) => {
  const input = healthy();
  const why = 'run.googleapis.com/request_count: Cloud Monitoring reports the data incomplete: deadline';
  input[which] = { ...input[which]!, incomplete: [why] };
  const judgement = judge(input);
  expect(judgement.verdict).toBe('INCONCLUSIVE');
  expect(judgement.reasons[0]).toBe(`incomplete metrics, no verdict on them (was PASS): ${prefix}${why}`);
});

test('an incomplete answer that looks like a failure is not a FAIL either', () => {
  const input = healthy();
  input.canary = {
    ...revision('canary', 10, 600, 0.2),
    incomplete: ['more than 20 pages; the rest was not read'],
  };
  const judgement = judge(input);
  expect(judgement.verdict).toBe('INCONCLUSIVE');
  expect(judgement.reasons[0]).toMatch(
    /^incomplete metrics, no verdict on them \(was FAIL\): canary canary: more than 20 pages/,
  );
});
