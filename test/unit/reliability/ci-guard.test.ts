/**
 * The CI guard: under CI=true nothing skips, whatever else is set. Without
 * it, GLIDEPATH_SKIP_EMULATORS=1 (or missing emulator hosts) would let CI
 * pass with every integration suite silently skipped.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import globalSetup from '../../global-setup';

// Emulators that always start: the guard alone must refuse, not a failed start.
jest.mock('../../../emulators/google', () => ({
  ...jest.requireActual('../../../emulators/google'),
  startGoogleEmulators: jest.fn(async () => ({ env: {}, stop: async () => undefined })),
}));

const REPO = join(__dirname, '..', '..', '..');
const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

function withEnv(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

describe('global setup', () => {
  it('refuses GLIDEPATH_SKIP_EMULATORS=1 under CI=true', async () => {
    withEnv({ CI: 'true', GLIDEPATH_SKIP_EMULATORS: '1' });
    await expect(globalSetup()).rejects.toThrow(/GLIDEPATH_SKIP_EMULATORS=1 under CI=true/);
  });

  it('starts the emulators under CI=true when nothing is skipped (the refusal above is the guard)', async () => {
    withEnv({ CI: 'true', GLIDEPATH_SKIP_EMULATORS: undefined });
    await expect(globalSetup()).resolves.toBeUndefined();
  });
});

describe('describeWithEmulators', () => {
  const load = (): jest.Describe => {
    let d!: jest.Describe;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      d = (require('../../helpers/emulators') as typeof import('../../helpers/emulators'))
        .describeWithEmulators;
    });
    return d;
  };

  it('is describe itself under CI=true even without the emulators', () => {
    withEnv({ CI: 'true', PUBSUB_EMULATOR_HOST: undefined, FIRESTORE_EMULATOR_HOST: undefined });
    expect(load()).toBe(describe);
  });

  it('is a skip outside CI without the emulators', () => {
    withEnv({ CI: undefined, PUBSUB_EMULATOR_HOST: undefined, FIRESTORE_EMULATOR_HOST: undefined });
    expect(load()).not.toBe(describe);
  });
});

it('.ci/run type-checks and lints after npm ci and before npm test', () => {
  const commands = readFileSync(join(REPO, '.ci', 'run'), 'utf8')
    .split('\n')
    .filter((l) => /^npm /.test(l));
  expect(commands).toEqual(['npm ci', 'npm run typecheck', 'npm run lint', 'npm test']);
  const scripts = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts;
  expect(scripts.typecheck).toBe('tsc --noEmit');
  expect(scripts.lint).toMatch(/eslint \. && prettier --check \./);
});
