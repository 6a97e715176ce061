/**
 * The Workflows emulator as a product of its own (issue 14, "Also"): its
 * code reaches no other part of Glidepath, and `npm run workflows-emulator`
 * serves any folder of workflows to the real ExecutionsClient.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { ExecutionsClient } from '@google-cloud/workflows';
import { waitFor } from '../../../emulators/util';
import { localClientOptions } from '../../../functions/shared/endpoint';

const root = resolve(__dirname, '../../..');

/** Every local file `entry` imports, transitively, and every package it names. */
function closure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import|require\()\s*'([^']+)'/g)) {
      if (!spec.startsWith('.')) {
        packages.add(spec);
        continue;
      }
      const base = resolve(dirname(file), spec);
      const target = [`${base}.ts`, join(base, 'index.ts'), base].find(
        (c) => existsSync(c) && statSync(c).isFile(),
      );
      if (!target) throw new Error(`${relative(root, file)}: cannot resolve ${spec}`);
      walk(target);
    }
  };
  walk(entry);
  return { files: [...files].map((f) => relative(root, f)).sort(), packages: [...packages].sort() };
}

test('its code imports nothing of Glidepath but two self-contained helpers, and few packages', () => {
  const { files, packages } = closure(join(root, 'emulators/workflows/index.ts'));
  const outside = files.filter((f) => !f.startsWith('emulators/workflows/'));
  // The JSON logger and the local OIDC tokens (shared with the actions function that verifies them).
  expect(outside).toEqual(['functions/shared/log.ts', 'functions/shared/oidc.ts']);
  for (const helper of outside) expect(closure(join(root, helper)).files).toEqual([helper]);
  expect(packages.filter((p) => !p.startsWith('node:'))).toEqual([
    '@grpc/grpc-js',
    '@grpc/proto-loader',
    'yaml',
  ]);
});

describe('npm run workflows-emulator', () => {
  let child: ChildProcess | undefined;
  let client: ExecutionsClient | undefined;
  afterEach(async () => {
    await client?.close();
    child?.kill('SIGTERM');
  });

  test('serves a folder of workflows to the real ExecutionsClient, with its env vars', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glidepath-standalone-'));
    writeFileSync(
      join(dir, 'greet.workflows.yaml'),
      [
        'main:',
        '  params: [args]',
        '  steps:',
        '    - done:',
        '        return: ${sys.get_env("GREETING") + ", " + args.name}',
        '',
      ].join('\n'),
    );
    child = spawn(
      process.execPath,
      [
        join(root, 'node_modules/.bin/tsx'),
        join(root, 'scripts/workflows-emulator.ts'),
        '--dir',
        dir,
        '--env',
        'greet:GREETING=hello',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const host = await waitFor(() => /on (127\.0\.0\.1:\d+)/.exec(out)?.[1], {
      timeoutMs: 30_000,
      what: `the emulator's address (output so far: ${out})`,
    });
    client = new ExecutionsClient(localClientOptions(host));
    const [execution] = await client.createExecution({
      parent: 'projects/p/locations/us-central1/workflows/greet',
      execution: { argument: JSON.stringify({ name: 'world' }) },
    });
    const done = await waitFor(
      async () => {
        const [e] = await client!.getExecution({ name: execution.name! });
        return e.state === 'SUCCEEDED' || e.state === 'FAILED' ? e : undefined;
      },
      { timeoutMs: 30_000, what: 'the execution to end' },
    );
    expect(done).toMatchObject({ state: 'SUCCEEDED', result: '"hello, world"' });
  }, 60_000);

  test('a bad option exits 2 naming it', async () => {
    child = spawn(
      process.execPath,
      [
        join(root, 'node_modules/.bin/tsx'),
        join(root, 'scripts/workflows-emulator.ts'),
        '--env',
        'GREETING=hello',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child!.once('exit', r));
    expect(code).toBe(2);
    expect(err).toContain('--env: expected WORKFLOW:KEY=VALUE, got "GREETING=hello"');
  }, 30_000);
});
