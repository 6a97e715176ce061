/**
 * The two shipped workflows against Google's published syntax (issue #14):
 * they pass deploy-time validation, and their subworkflows behave as the
 * Workflows pages say they must. Subworkflows run alone through a `main`
 * that calls them with the test's arguments.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';
import { compileWorkflow, runWorkflow, verifyOidcToken } from '../../../emulators/workflows';
import { virtualClock } from './helpers';

const WORKFLOWS = join(__dirname, '..', '..', '..', 'workflows');
const source = (name: string): string => readFileSync(join(WORKFLOWS, `${name}.workflows.yaml`), 'utf8');
const SA = 'wf@p.iam.gserviceaccount.com';
const SECRET = 'shipped-secret';

/** Runs one subworkflow of a shipped workflow with named arguments. */
async function runSubworkflow(
  workflow: string,
  subworkflow: string,
  args: Record<string, unknown>,
  env: Record<string, string> = {},
  clock = virtualClock(Date.now()),
): Promise<Awaited<ReturnType<typeof runWorkflow>>> {
  const doc = YAML.parse(source(workflow)) as Record<string, unknown>;
  doc.main = {
    params: ['input'],
    steps: [
      {
        call_it: {
          call: subworkflow,
          args: Object.fromEntries(Object.keys(args).map((k) => [k, `\${input.${k}}`])),
          result: 'out',
        },
      },
      { done: { return: '${out}' } },
    ],
  };
  return runWorkflow(YAML.stringify(doc), args, {
    clock,
    env,
    serviceAccount: SA,
    oidcSecret: SECRET,
  });
}

test.each(['rollout', 'job-run', 'job-rollout'])('%s passes deploy-time validation', (name) => {
  expect(() => compileWorkflow(source(name))).not.toThrow();
});

describe('the transient predicate (error-types: ConnectionFailedError is a tag of its own)', () => {
  const cases: [string, unknown, boolean][] = [
    ['ConnectionFailedError', { tags: ['ConnectionFailedError'], message: 'refused' }, true],
    ['ConnectionError', { tags: ['ConnectionError'], message: 'reset' }, true],
    ['TimeoutError', { tags: ['TimeoutError'], message: 'slow' }, true],
    ['HTTP 500 (the actions endpoint: permanent)', { tags: ['HttpError'], code: 500 }, false],
    ['HTTP 503', { tags: ['HttpError'], code: 503 }, true],
    ['HTTP 400', { tags: ['HttpError'], code: 400 }, false],
    ['HTTP 409', { tags: ['HttpError'], code: 409 }, false],
    ['a raised string', 'boom', false],
  ];
  test.each(
    ['rollout', 'job-run', 'job-rollout'].flatMap((w) => cases.map(([n, e, r]) => [w, n, e, r] as const)),
  )('%s: %s → %s', async (workflow, _name, error, retry) => {
    const run = await runSubworkflow(workflow, 'transient', { e: error });
    expect(run).toMatchObject({ state: 'SUCCEEDED', result: retry });
  });
});

describe('against a local actions server', () => {
  let server: Server;
  let base: string;
  let handle: (req: IncomingMessage, body: unknown, res: ServerResponse) => void;
  const seen: { path: string; aud: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        seen.push({ path: req.url ?? '', aud: verifyOidcToken(token, SECRET, SA).aud });
        handle(req, raw ? JSON.parse(raw) : null, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => (seen.length = 0));
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  test('rollout: actions are called with the service root URL as audience, not the full URL', async () => {
    handle = (_req, _body, res) => json(res, 200, { ok: true });
    const run = await runSubworkflow('rollout', 'action', { actions_url: base, name: 'deploy', body: {} });
    expect(run).toMatchObject({ state: 'SUCCEEDED', result: { ok: true } });
    expect(seen).toEqual([{ path: '/deploy', aud: base }]);
  });

  test('job-run: audience is ACTIONS_URL; a 503 blip is retried with the rollout backoff (1, 2, 4, 8 s), past http.default_retry (about 8 s in all)', async () => {
    let failures = 4;
    handle = (_req, _body, res) =>
      failures-- > 0 ? json(res, 503, { error: 'blip' }) : json(res, 200, { done: true });
    const clock = virtualClock(Date.now());
    const run = await runSubworkflow(
      'job-run',
      'call_action',
      { action: 'job_run_attempt', body: {} },
      { ACTIONS_URL: base },
      clock,
    );
    expect(run).toMatchObject({ state: 'SUCCEEDED', result: { done: true } });
    expect(clock.sleeps).toEqual([1000, 2000, 4000, 8000]);
    expect(seen).toEqual(Array.from({ length: 5 }, () => ({ path: '/job_run_attempt', aud: base })));
  });

  test('rollout: a wave runs at most plan.maxParallelRegions regions at once and reports them in wave order', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let answered = 0;
    const held: (() => void)[] = [];
    const limit = 2;
    const regions = ['r1', 'r2', 'r3', 'r4', 'r5'];
    handle = (req, _body, res) => {
      if (req.url !== '/deploy') return json(res, 200, req.url === '/smoke' ? { passed: true } : {});
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push(() => {
        inFlight--;
        answered++;
        json(res, 200, { outcome: 'deployed', stable: null });
      });
      // Every deploy is held until `limit` are in flight (or the last ones of the wave are), so a
      // correct engine reaches exactly `limit` however slow the machine; no timer decides that.
      // The release then waits a moment, so the deploy an engine over its limit would send shows.
      if (held.length >= limit || answered + held.length === regions.length)
        setTimeout(() => held.splice(0).forEach((release) => release()), 100);
    };
    const run = await runSubworkflow('rollout', 'run_wave', {
      plan: { rolloutId: 'ro1', maxParallelRegions: limit, steps: [], hold: false },
      wave: { regions },
      actions_url: base,
      execution_id: 'e1',
    });
    expect(run).toMatchObject({
      state: 'SUCCEEDED',
      result: { promoted: regions, failed: [], stopped: false },
    });
    expect(maxInFlight).toBe(limit);
  });
});
