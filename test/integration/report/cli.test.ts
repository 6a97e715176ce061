/**
 * `glidepath report` against Google's Firestore emulator: a rollout, its
 * events and its looks seeded as the functions write them, the CLI spawned
 * as an operator runs it, the page it writes read back.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';
import { FirestoreLookStore } from '../../../functions/adapters/look-store';
import { EVENTS, LOOKS, ROLLOUT } from '../../unit/report/fixture';

const run = promisify(execFile);
const CLI = join(__dirname, '../../../scripts/glidepath.js');

describeWithEmulators('glidepath report', () => {
  const project = testProjectId(__filename);
  const db = new Firestore({ projectId: project });
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-report-cli-'));
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, ...args, '--project', project], { env: process.env });

  beforeAll(async () => {
    await db.doc(`rollouts/${ROLLOUT.id}`).set(ROLLOUT);
    for (const e of EVENTS) await db.collection(`rollouts/${ROLLOUT.id}/events`).add(e);
    const looks = new FirestoreLookStore(db);
    for (const l of LOOKS) await looks.record(ROLLOUT.id, l);
  });
  afterAll(() => db.terminate());

  it('writes the report from Firestore alone and prints its path', async () => {
    const out = join(dir, 'r.html');
    const { stdout } = await cli('report', ROLLOUT.id, '--out', out);
    expect(stdout).toBe(`${out}\n`);
    const html = readFileSync(out, 'utf8');
    expect(html.split('<section class="region"')).toHaveLength(3);
    expect(html).toContain('step 2 (50%) FAIL: 5xx 6.00% vs stable 1.00%');
  }, 60_000);

  it('says which rollout is unknown, exit 2', async () => {
    const err = await cli('report', 'shop-nope', '--out', join(dir, 'x.html')).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toContain(`shop-nope: no rollout of that id in ${project}`);
  }, 60_000);
});
