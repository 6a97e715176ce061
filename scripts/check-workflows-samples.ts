/**
 * Runs Google's published Workflows samples through the emulator's deploy-time
 * validation. Google's files are not in this repository: the script reads them
 * from a local clone of GoogleCloudPlatform/workflows-samples (a work tree or a
 * bare repository) when one is present, and says so when none is.
 *
 *   npx tsx scripts/check-workflows-samples.ts [PATH_TO_CLONE]
 *   (default: $WORKFLOWS_SAMPLES, then /work/.mirror/GoogleCloudPlatform+workflows-samples/repo)
 *
 * Prints one JSON line: {checked, accepted, rejected: [{file, error}]}; exits 1
 * when any sample is rejected, 2 when no clone is found.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compileWorkflow } from '../emulators/workflows';

const repo =
  process.argv[2] ??
  process.env.WORKFLOWS_SAMPLES ??
  '/work/.mirror/GoogleCloudPlatform+workflows-samples/repo';
if (!existsSync(repo)) {
  console.log(JSON.stringify({ skipped: `no workflows-samples clone at ${repo}` }));
  process.exit(2);
}
const git = (...args: string[]): string =>
  execFileSync('git', ['--git-dir', existsSync(`${repo}/.git`) ? `${repo}/.git` : repo, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
const files = git('ls-tree', '-r', '--name-only', 'HEAD')
  .split('\n')
  .filter((f) => /^src\/.*\.workflows\.yaml$/.test(f));
const rejected: { file: string; error: string }[] = [];
for (const file of files) {
  try {
    compileWorkflow(git('show', `HEAD:${file}`));
  } catch (err) {
    rejected.push({ file, error: (err as Error).message });
  }
}
console.log(JSON.stringify({ checked: files.length, accepted: files.length - rejected.length, rejected }));
process.exit(rejected.length ? 1 : 0);
