import { join } from 'node:path';
import { UsageError, parseEnvPairs } from '../../../cli/io';
import {
  buildDeployRequest,
  defaultRequester,
  formatTraffic,
  shortDigest,
} from '../../../cli/commands/rollouts';
import { validateSimulateOptions, type SimulateOptions } from '../../../cli/commands/simulate';
import { main } from '../../../cli/main';

const POLICY = join(__dirname, '../../fixtures/policy.yaml');
const PROFILES = join(__dirname, '../../fixtures/profiles.json');
const API = 'us-docker.pkg.dev/my-project/apps/api';
const DIGEST = `${API}@sha256:${'a'.repeat(64)}`;

describe('--env pairs (jobs run, workflows run)', () => {
  it('splits each pair at its first =, the value may hold more', () => {
    expect(parseEnvPairs(['A=1', 'URL=http://x/?a=b', 'EMPTY='])).toEqual({
      A: '1',
      URL: 'http://x/?a=b',
      EMPTY: '',
    });
  });

  it.each(['NOEQUALS', '=value'])('refuses %s, naming it', (pair) => {
    expect(() => parseEnvPairs([pair])).toThrow(new UsageError(`--env ${pair}: expected KEY=VALUE`));
  });
});

describe('redeploy arguments', () => {
  const base = { service: 'api', image: DIGEST, reason: 'hotfix', requestedBy: 'ana@example.com' };

  it('builds the deploy request, with regions split on commas', () => {
    expect(buildDeployRequest({ ...base, regions: 'us-central1, europe-west1' })).toEqual({
      ...base,
      regions: ['us-central1', 'europe-west1'],
    });
    expect(buildDeployRequest(base)).toEqual(base);
  });

  it('defaults requestedBy to the given requester', () => {
    const rest = { service: base.service, image: base.image, reason: base.reason };
    expect(buildDeployRequest(rest, () => 'bob').requestedBy).toBe('bob');
    expect(() => buildDeployRequest(rest, () => undefined)).toThrow(/--requested-by/);
  });

  it('takes USER from the environment first', () => {
    expect(defaultRequester({ USER: 'carol' })).toBe('carol');
  });

  it.each([
    ['an empty --regions', { regions: ' , ' }, /--regions/],
    ['a service name too long for the schema', { service: 'x'.repeat(64) }, /service/],
    ['an empty reason', { reason: '' }, /reason/],
  ])('refuses %s', (_name, patch, message) => {
    expect(() => buildDeployRequest({ ...base, ...patch })).toThrow(UsageError);
    expect(() => buildDeployRequest({ ...base, ...patch })).toThrow(message);
  });

  it.each([
    ['a foreign image', { image: `docker.io/evil/api@sha256:${'b'.repeat(64)}` }, /security violation/],
    ['a tag instead of a digest', { image: `${API}:v1.2.3` }, /immutable reference/],
    ['an unknown service', { service: 'nope' }, /service: expected one of/],
    ['a region outside the waves', { regions: 'mars-north1' }, /regions: expected a subset/],
  ])('with --config, refuses %s as intake would', (_name, patch, message) => {
    expect(() => buildDeployRequest({ ...base, ...patch, config: POLICY })).toThrow(message);
  });

  it('with --config, accepts what intake accepts', () => {
    expect(buildDeployRequest({ ...base, config: POLICY, regions: 'us-central1' }).regions).toEqual([
      'us-central1',
    ]);
  });
});

describe('simulate arguments', () => {
  const base: SimulateOptions = { config: POLICY, profiles: PROFILES, push: [`${API}:v1.0.0`] };

  it('accepts a push of a policy repository', () => {
    expect(validateSimulateOptions({ ...base, speed: '120', rate: '10' })).toMatchObject({
      speed: 120,
      rate: 10,
    });
  });

  it('accepts a push of a job repository (jobs[].image)', () => {
    const jobs = join(__dirname, '../../fixtures/e2e/jobs.policy.yaml');
    const push = ['us-docker.pkg.dev/e2e-jobs/jobs/ledger:v2'];
    expect(validateSimulateOptions({ ...base, config: jobs, push }).policy.jobs[0].name).toBe('ledger');
  });

  it.each([
    ['a zero speed', { speed: '0' }, /--speed/],
    ['a non-numeric rate', { rate: 'fast' }, /--rate/],
    ['no push', { push: [] }, /--push/],
    ['a push without a tag', { push: [API] }, /repository:tag/],
    [
      'a push of a repository no service uses',
      { push: ['us-docker.pkg.dev/x/y/z:v1'] },
      /no service or job in .* uses the repository us-docker\.pkg\.dev\/x\/y\/z$/,
    ],
    ['a missing policy file', { config: '/nonexistent.yaml' }, /cannot read policy file/],
    ['a missing profiles file', { profiles: '/nonexistent.json' }, /cannot read profiles file/],
  ])('refuses %s', (_name, patch, message) => {
    expect(() => validateSimulateOptions({ ...base, ...patch })).toThrow(UsageError);
    expect(() => validateSimulateOptions({ ...base, ...patch })).toThrow(message);
  });
});

describe('command line', () => {
  it.each([
    [['history', 'api', '--project', 'p', '--limit', '0'], /--limit/],
    [['status', 'x'], /--project/],
    [
      ['simulate', '--config', POLICY, '--profiles', PROFILES, '--push', `${API}:v1`, '--speed', '-1'],
      /--speed/,
    ],
    [
      ['jobs', 'run', 'nightly-report', '--config', POLICY, '--project', 'p', '--env', 'TOKEN=x'],
      /^overrides\.env: job nightly-report allows overriding MODE \(jobs\[\]\.overridable\.env\), got "TOKEN"$/,
    ],
  ])('%j is a usage error', async (args, message) => {
    const saved = process.env.GLIDEPATH_PROJECT;
    delete process.env.GLIDEPATH_PROJECT;
    try {
      await expect(main(['node', 'glidepath', ...args])).rejects.toThrow(message);
    } finally {
      if (saved !== undefined) process.env.GLIDEPATH_PROJECT = saved;
    }
  });
});

describe('formatting', () => {
  it('shortens a digest to 12 hex characters', () =>
    expect(shortDigest(`sha256:${'c'.repeat(64)}`)).toBe('cccccccccccc'));
  it('lists traffic largest share first', () =>
    expect(formatTraffic({ 'api-1': 10, 'api-0': 90 })).toBe('api-0 90%, api-1 10%'));
});
