/**
 * `npm run bench -- <name>` runs scripts/bench/<name>.ts, which prints its
 * figures as one JSON document on stdout.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const name = process.argv[2];
const dir = join(__dirname, 'bench');
const known = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''));
if (!name || !existsSync(join(dir, `${name}.ts`))) {
  process.stderr.write(`usage: npm run bench -- <${known.join('|')}> [options]\n`);
  process.exit(2);
}
process.argv.splice(2, 1);
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the benchmark is chosen at run time
require(join(dir, `${name}.ts`));
