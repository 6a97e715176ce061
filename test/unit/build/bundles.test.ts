import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFunctions } from '../../../scripts/build';
import { FUNCTIONS } from '../../../functions/catalog';

// Loads a bundle in a fresh process and lists the Google client libraries its import pulled in.
const PROBE = `
const Module = require('module');
const loaded = new Set();
const orig = Module.prototype.require;
Module.prototype.require = function (id) {
  if (/^@google-cloud\\/(?!functions-framework)|^google-gax$|^@grpc\\//.test(id)) loaded.add(id);
  return orig.apply(this, arguments);
};
require(process.argv[1]);
process.stdout.write(JSON.stringify([...loaded]));
`;

describe('npm run build', () => {
  const out = mkdtempSync(join(tmpdir(), 'glidepath-build-'));
  beforeAll(() => buildFunctions(out), 60_000);

  it.each(FUNCTIONS.map((f) => [f.name]))(
    'bundles %s with its package.json and policy, loading no client at import',
    (name) => {
      const dir = join(out, name);
      expect(existsSync(join(dir, 'index.js'))).toBe(true);
      expect(existsSync(join(dir, 'glidepath.yaml'))).toBe(true);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      expect(pkg.main).toBe('index.js');
      expect(pkg.dependencies['@google-cloud/functions-framework']).toBeDefined();
      const loaded = JSON.parse(
        execFileSync(process.execPath, ['-e', PROBE, join(dir, 'index.js')], {
          env: { PATH: process.env.PATH, NODE_PATH: join(__dirname, '../../../node_modules') },
        }).toString(),
      );
      expect(loaded).toEqual([]);
    },
  );
});
