/**
 * terraform/ against the google provider's schema (issue #13): the real configuration passes,
 * and each kind of mistake `terraform validate` would refuse is caught in a broken copy.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModule } from './checks';
import { SCHEMA, checkProviderSchema } from './provider-schema';
import { usedTypes } from '../../scripts/terraform-schema';
import { TERRAFORM_DIR } from './tf';

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'glidepath-tf-schema-'));
  cpSync(TERRAFORM_DIR, work, {
    recursive: true,
    filter: (src) => !/[/\\]\.(terraform|build)([/\\]|$)/.test(src),
  });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Replaces `from` (which must occur) in the copy's `file`, then checks the copy. */
async function mutated(file: string, from: string | RegExp, to: string): Promise<string[]> {
  const path = join(work, file);
  const text = readFileSync(path, 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`mutation did not apply: ${String(from)} not found in ${file}`);
  writeFileSync(path, next);
  return checkProviderSchema(await loadModule(work));
}

/** The instances of the subscriptions that feed the functions: a mistake in their one block shows in each. */
const FEEDS = [
  'cloud-builds',
  'gcr',
  'glidepath-deploy-requests',
  'glidepath-job-triggers',
  'glidepath-rollout-stops',
];
const inEveryFeed = (problem: string) =>
  FEEDS.map((key) =>
    expect.stringMatching(
      new RegExp(`^pubsub\\.tf: google_pubsub_subscription\\.feeds\\["${key}"\\]${problem}`),
    ),
  );

test('the schema comes from the pinned provider package and covers every google type terraform/ uses', async () => {
  expect(SCHEMA.source).toMatch(/^@cdktf\/provider-google@16\.12\.1 \(hashicorp\/google 6\.50\.0\)/);
  const google = (await usedTypes(TERRAFORM_DIR)).filter((t) => t.split(' ')[1].startsWith('google_'));
  expect(google.length).toBeGreaterThan(20);
  for (const t of google) {
    const [kind, type] = t.split(' ') as ['resource' | 'data', string];
    expect([t, SCHEMA[kind][type] !== undefined]).toEqual([t, true]);
  }
});

test('every resource and data block of terraform/ matches the provider schema', async () => {
  for (const dir of [TERRAFORM_DIR, join(TERRAFORM_DIR, 'examples', 'basic')])
    expect(checkProviderSchema(await loadModule(dir))).toEqual([]);
});

test('a misspelled argument is caught', async () => {
  expect(await mutated('pubsub.tf', /\back_deadline_seconds\b/, 'ack_deadline_second')).toEqual(
    inEveryFeed(': unknown argument "ack_deadline_second"; expected one of .*ack_deadline_seconds'),
  );
});

test('a misspelled block, and one in a nested block, are caught', async () => {
  const problems = await mutated('pubsub.tf', /\bdead_letter_policy \{/, 'dead_letters_policy {');
  expect(problems).toEqual(inEveryFeed(': unknown block "dead_letters_policy"'));
  const nested = await mutated('pubsub.tf', /\bpush_endpoint\b/, 'push_endpiont');
  expect(nested).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/\.push_config: unknown argument "push_endpiont"/),
      expect.stringMatching(/\.push_config: missing required argument "push_endpoint"/),
    ]),
  );
});

test('a missing required argument is caught', async () => {
  expect(await mutated('pubsub.tf', /\n\s*topic\s*=\s*[^\n]+/, '')).toEqual(
    inEveryFeed(': missing required argument "topic"$'),
  );
});

test('a block written as an argument, and an argument written as a block, are caught', async () => {
  expect(await mutated('pubsub.tf', /\bdead_letter_policy \{/, 'dead_letter_policy = {')).toEqual(
    inEveryFeed(': "dead_letter_policy" is a block, written as an argument$'),
  );
  rmSync(work, { recursive: true, force: true });
  cpSync(TERRAFORM_DIR, work, { recursive: true });
  expect(
    await mutated('functions.tf', /\blabels\s*=\s*local\.labels/, 'labels {\n    team = "x"\n  }'),
  ).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/: "labels" is an argument \(map\(string\)\), written as a block$/),
    ]),
  );
});
