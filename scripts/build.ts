/**
 * `npm run build [-- --policy FILE]`: bundles each Cloud Function with
 * esbuild into dist/functions/<name>/ (index.js, package.json, glidepath.yaml),
 * ready for Terraform's archive_file.
 *
 * Glidepath's code, zod and yaml are bundled. The Google client libraries
 * (and Vega, which the report renderer loads) stay external and are listed in the generated package.json, which Cloud
 * Functions installs at deploy time: bundling them tripled the cold start
 * (3 MB to compile), and the functions-framework must be the runtime's own
 * copy to see the functions registered on it.
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { FUNCTIONS } from '../functions/catalog';

export { FUNCTIONS };

const root = join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- reads the root package.json at build time
const rootDependencies: Record<string, string> = require(join(root, 'package.json')).dependencies;
// Vega and Vega-Lite too: the actions function loads them for a rollout's last report only.
const EXTERNAL = Object.keys(rootDependencies).filter((d) =>
  /^@google-cloud\/|^@grpc\/|^google-gax$|^vega(-lite)?$/.test(d),
);

function policyPath(): string {
  const i = process.argv.indexOf('--policy');
  if (i > 0) return process.argv[i + 1];
  const own = join(root, 'glidepath.yaml');
  return existsSync(own) ? own : join(root, 'glidepath.example.yaml');
}

export async function buildFunctions(
  outDir = join(root, 'dist', 'functions'),
): Promise<Array<{ name: string; bytes: number }>> {
  const policy = policyPath();
  if (!existsSync(policy)) throw new Error(`policy file ${policy} not found (pass --policy FILE)`);
  rmSync(outDir, { recursive: true, force: true });
  const built: Array<{ name: string; bytes: number }> = [];
  for (const fn of FUNCTIONS) {
    const dir = join(outDir, fn.name);
    mkdirSync(dir, { recursive: true });
    const result = await build({
      entryPoints: [join(root, fn.entry)],
      outfile: join(dir, 'index.js'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: true,
      external: EXTERNAL,
      metafile: true,
      logLevel: 'warning',
    });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify(
        {
          name: `glidepath-${fn.name}`,
          private: true,
          main: 'index.js',
          engines: { node: '20' },
          dependencies: Object.fromEntries(EXTERNAL.map((d) => [d, rootDependencies[d]])),
        },
        null,
        2,
      ),
    );
    copyFileSync(policy, join(dir, 'glidepath.yaml'));
    built.push({
      name: fn.name,
      bytes: Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0),
    });
  }
  return built;
}

if (require.main === module) {
  buildFunctions().then(
    (built) => process.stdout.write(JSON.stringify({ built }) + '\n'),
    (err) => {
      process.stderr.write(`build failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
