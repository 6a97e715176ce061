/** `glidepath workflows run`: one JSON line on stdout; exit 0 succeeded, 1 failed, 2 invalid. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'workflows');

function cli(...args: string[]) {
  const run = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts', 'glidepath.js'), 'workflows', 'run', ...args],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { code: run.status, stdout: run.stdout.trim(), stderr: run.stderr };
}

test('a succeeding workflow prints its result and exits 0', () => {
  const run = cli(
    join(FIXTURES, 'sleeper.workflows.yaml'),
    '--data',
    '{"seconds": 0.01}',
    '--env',
    'COLOR=green',
  );
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({
    state: 'SUCCEEDED',
    result: { workflow: 'sleeper', color: 'green' },
  });
});

test('a failing workflow prints its error and exits 1', () => {
  const run = cli(join(FIXTURES, 'failing.workflows.yaml'));
  expect(run.code).toBe(1);
  expect(JSON.parse(run.stdout)).toMatchObject({
    state: 'FAILED',
    error: { code: 409, message: 'rollout superseded' },
  });
});

test('an invalid construct exits 2 naming the step', () => {
  const run = cli(join(FIXTURES, 'invalid.workflows.yaml'));
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain('step "s1": "parallel.exception_policy" must be "continueAll", got "stopAll"');
});
