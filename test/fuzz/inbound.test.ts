/**
 * Hostile input at every inbound door, in-process (issue #9 part 4): every
 * fuzz property of hostile.ts with a modest count (FUZZ_RUNS overrides it),
 * proof that the arbitraries produce each hostile category and that the
 * checks bite, and example tests for the bugs the fuzzing found.
 */
import fc from 'fast-check';
import { dirname, join } from 'node:path';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { ACTIONS } from '../../functions/actions';
import { decideIntake } from '../../functions/domain/intake';
import { decideJobTrigger } from '../../functions/domain/jobs';
import {
  MAX_PAYLOAD_BYTES,
  PubsubMessage,
  TOPICS,
  decodeMessage,
  DeployRequest,
} from '../../functions/domain/messages';
import { MAX_POLICY_BYTES, parsePolicyYaml } from '../../functions/domain/policy';
import {
  ValidationError,
  boundReason,
  boundedJson,
  describeIssues,
  isWellFormed,
  show,
} from '../../functions/domain/validation';
import { unwrapPubsubEvent, type PubsubEventData } from '../../functions/entry/pubsub-event';
import {
  ACTION_SAMPLES,
  FUZZ_PROPERTIES,
  GOOD_DIGEST,
  POLICY,
  VALID_PAYLOADS,
  assertNotPolluted,
  checkIntakeDecision,
  checkRejectionRecord,
  fuzzProperty,
  hostileAttributes,
  hostileCloudEvent,
  hostileImageRef,
  hostileJsonText,
  hostileObjectText,
  hostileString,
  hostileYaml,
  insideRepository,
  lookAlikes,
  mutatedPayload,
  namesAField,
  nestedJson,
  runAllFuzz,
} from './hostile';

/** Cases per unit of a property's weight; FUZZ_RUNS sets the count of every property instead. */
const RUNS_PER_WEIGHT = 40;
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS) || undefined;

const b64 = (text: string) => Buffer.from(text).toString('base64');
const event = (data: unknown, extra: Record<string, unknown> = {}) =>
  ({
    id: '1',
    source: '//pubsub.googleapis.com/projects/p/topics/gcr',
    specversion: '1.0',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    data,
    ...extra,
  }) as unknown as CloudEvent<PubsubEventData>;

describe('fuzz properties over every inbound schema and action body', () => {
  it.each(FUZZ_PROPERTIES.map((p) => [p.fuzzName, p] as const))('%s', (_name, property) => {
    const runs = FUZZ_RUNS ?? RUNS_PER_WEIGHT * property.weight;
    expect(property(runs).cases).toBe(runs);
  });

  it('covers every action of the actions endpoint, and each has a valid sample body', () => {
    const names = FUZZ_PROPERTIES.map((p) => p.fuzzName);
    for (const [name, action] of Object.entries(ACTIONS)) {
      expect(names).toContain(`actions: hostile ${name} bodies`);
      expect(action.schema.safeParse(ACTION_SAMPLES[name]).success).toBe(true);
    }
  });

  it('runAllFuzz reports the cases each property tried, and their total (what the bench prints)', () => {
    const { results, totalCases } = runAllFuzz(2, 7);
    expect(results).toHaveLength(FUZZ_PROPERTIES.length);
    expect(totalCases).toBe(2 * FUZZ_PROPERTIES.length);
  });
});

describe('the arbitraries produce every hostile category', () => {
  const sample = <T>(arb: fc.Arbitrary<T>, numRuns = 3000) => fc.sample(arb, { numRuns, seed: 9 });

  function depth(value: unknown): number {
    let max = 0;
    const stack: Array<[unknown, number]> = [[value, 0]];
    while (stack.length > 0) {
      const [v, d] = stack.pop()!;
      max = Math.max(max, d);
      if (v !== null && typeof v === 'object') for (const x of Object.values(v)) stack.push([x, d + 1]);
    }
    return max;
  }

  it('prototype-pollution keys as own keys', () => {
    const objects = sample(hostileObjectText, 300).map((t) => JSON.parse(t) as object);
    for (const key of ['__proto__', 'constructor', 'prototype'])
      expect(objects.some((o) => Object.hasOwn(o, key))).toBe(true);
    const attributes = sample(hostileAttributes).filter((a) => a !== null && a !== undefined);
    expect(attributes.some((a) => Object.hasOwn(a!, '__proto__'))).toBe(true);
  });

  it('nesting deeper than 500 (and 100,000), and sizes past MAX_PAYLOAD_BYTES', () => {
    const texts = sample(hostileJsonText, 600);
    expect(texts.some((t) => depth(JSON.parse(t)) > 500)).toBe(true);
    expect(texts.some((t) => depth(JSON.parse(t)) >= 100_000)).toBe(true);
    expect(texts.some((t) => Buffer.byteLength(t) > MAX_PAYLOAD_BYTES)).toBe(true);
  });

  it('unicode: lone surrogates, right-to-left, NUL, emoji', () => {
    const strings = sample(hostileString);
    expect(
      strings.some((s) => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)),
    ).toBe(true);
    expect(strings.some((s) => s.includes('\u202e'))).toBe(true);
    expect(strings.some((s) => s.includes('\u0000'))).toBe(true);
    expect(strings.some((s) => /\p{Extended_Pictographic}/u.test(s))).toBe(true);
  });

  it('image references with .., @, :, spaces, //, uppercase, trailing dots, long paths and look-alikes', () => {
    const repo = POLICY.services[0].image;
    const refs = sample(hostileImageRef(repo));
    for (const needle of ['/..', '@sha256:', `${repo}:`, ' ', '//', `${repo}-evil`, `evil.io/${repo}`])
      expect(refs.some((r) => r.includes(needle))).toBe(true);
    expect(refs.some((r) => r !== r.toLowerCase())).toBe(true);
    expect(refs.some((r) => /\.@|\.$/.test(r))).toBe(true);
    expect(refs.some((r) => r.length > 512)).toBe(true);
    expect(refs.some((r) => /@sha256:[a-f0-9]{63}$/.test(r))).toBe(true); // a bad digest
  });

  it('mutations of valid messages reach every outcome (purely random input would not get past the first check)', () => {
    for (const topic of [TOPICS.gcr, TOPICS.cloudBuilds, TOPICS.deployRequests]) {
      const outcomes = new Set(
        sample(mutatedPayload(topic), 400).map(
          ({ text }) => decideIntake(POLICY, topic, { data: b64(text), messageId: '1' }).outcome,
        ),
      );
      // A manual request is never ignored: it is started or rejected.
      const expected =
        topic === TOPICS.deployRequests ? ['rejected', 'rollout'] : ['ignored', 'rejected', 'rollout'];
      expect([topic, [...outcomes].sort()]).toEqual([topic, expected]);
    }
    const jobs = new Set(
      sample(mutatedPayload(TOPICS.jobTriggers), 400).map(
        ({ text }) => decideJobTrigger(POLICY, { data: b64(text), messageId: '1' }).outcome,
      ),
    );
    expect([...jobs].sort()).toEqual(['rejected', 'start']);
  });

  it('valid messages start rollouts for every service of the policy', () => {
    for (const service of POLICY.services)
      for (const topic of [TOPICS.gcr, TOPICS.cloudBuilds, TOPICS.deployRequests]) {
        const payload = VALID_PAYLOADS[topic](service, GOOD_DIGEST);
        const decision = decideIntake(POLICY, topic, { data: b64(JSON.stringify(payload)), messageId: '1' });
        expect([service.name, topic, decision.outcome]).toEqual([service.name, topic, 'rollout']);
      }
  });

  it('CloudEvents with unreadable envelopes, and policies that are not policies', () => {
    const unwrapped = sample(hostileCloudEvent, 150).map(unwrapPubsubEvent);
    expect(unwrapped.some((u) => u.ok)).toBe(true);
    expect(unwrapped.some((u) => !u.ok)).toBe(true);
    const yaml = sample(hostileYaml, 300);
    expect(yaml.some((y) => y.includes('&l0'))).toBe(true);
    expect(yaml.some((y) => y.includes('__proto__'))).toBe(true);
  });
});

describe('the checks bite', () => {
  const repo = POLICY.services[0].image;

  it('a string-prefix repository check lets look-alikes through; the segment-exact one does not', () => {
    const naive = (ref: string) => ref.startsWith(repo);
    const details = fc.check(
      fc.property(fc.constantFrom(...lookAlikes(repo)), (ref) => naive(ref) === insideRepository(ref, repo)),
      { seed: 1 },
    );
    expect(details.failed).toBe(true);
    for (const ref of [
      `${repo}-evil@${GOOD_DIGEST}`,
      `${repo}/../other@${GOOD_DIGEST}`,
      `${repo}@${GOOD_DIGEST}/../x`,
    ])
      expect(insideRepository(ref, repo)).toBe(false);
    expect(insideRepository(`${repo}@${GOOD_DIGEST}`, repo)).toBe(true);
  });

  it('flags a rollout outside the repository, an unbounded reason, and a rejection that names no field', () => {
    const service = POLICY.services[0];
    const outside = {
      outcome: 'rollout' as const,
      reason: 'x',
      requests: [{ service, repository: `${repo}-evil`, digest: GOOD_DIGEST, source: 'manual' as const }],
      jobRequests: [],
    };
    expect(() => checkIntakeDecision(outside)).toThrow(/outside/);
    expect(() => checkIntakeDecision({ outcome: 'ignored', reason: 'x'.repeat(1_000_000) })).toThrow(
      /reason of 1000000/,
    );
    expect(() => checkIntakeDecision({ outcome: 'rejected', reason: 'something went wrong' })).toThrow(
      /names no field/,
    );
    expect(namesAField('invalid deploy request: results.images[0].name: expected string')).toBe(true);
    expect(namesAField('attributes["a b"]: expected string')).toBe(true);
  });

  it('flags a dead-letter record with an unusable id or too big for a document', () => {
    expect(() => checkRejectionRecord('gcr', { messageId: 'a/b', data: 'e30=' }, 'x: y')).toThrow(
      /document id/,
    );
    expect(() => checkRejectionRecord('gcr', { messageId: '1', data: '€'.repeat(400_000) }, 'x: y')).toThrow(
      /bytes/,
    );
  });

  it('flags prototype pollution', () => {
    (Object.prototype as Record<string, unknown>).polluted = 'yes';
    try {
      expect(() => assertNotPolluted()).toThrow(/polluted/);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    expect(() => assertNotPolluted()).not.toThrow();
  });

  it('a failing property reports its seed and path, and a bounded counterexample', () => {
    const failing = fuzzProperty('always fails on big input', 1, hostileJsonText, (text) => {
      if (text.length > 1000) throw new Error('too big');
    });
    let message = '';
    try {
      failing(2000, 3);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^always fails on big input: Error: too big/);
    expect(message).toMatch(/replay with seed 3, path "[\d:]+"/);
    expect(message.length).toBeLessThan(4000);
  });
});

describe('regressions found by the fuzzing', () => {
  it('deep nesting in a message is rejected naming the field, not a RangeError from describing it', () => {
    const gcr = decideIntake(POLICY, 'gcr', {
      data: b64(`{"action":"INSERT","digest":${nestedJson(20_000, 'array')}}`),
    });
    expect(gcr).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/^invalid .*: digest: expected string/),
    });
    const root = decideIntake(POLICY, 'glidepath-deploy-requests', {
      data: b64(nestedJson(100_000, 'object')),
    });
    expect(root.outcome).toBe('rejected');
    const job = decideJobTrigger(POLICY, {
      data: b64(`{"job":${nestedJson(20_000, 'array')}}`),
      messageId: '1',
    });
    expect(job).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/job: expected string/) });
    expect(boundedJson(JSON.parse(nestedJson(100_000, 'array')), 10)).toEqual({
      text: '[[[[[[[[[[',
      truncated: true,
    });
  });

  it('a reason never echoes a large payload: at most 2,000 characters', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `"${'k'.repeat(30)}${i}":1`).join(',');
    const manual = decideIntake(POLICY, 'glidepath-deploy-requests', { data: b64(`{${keys}}`) });
    expect(manual.outcome).toBe('rejected');
    expect(manual.reason.length).toBeLessThanOrEqual(2000); // was 194,174 characters
    expect(manual.reason).toMatch(/unknown field\(s\) .*and 4995 more/);
    const regions = Array.from({ length: 50 }, (_, i) => `${'r'.repeat(60)}${i}`);
    const request = {
      service: 'api',
      image: `${POLICY.services[0].image}@${GOOD_DIGEST}`,
      reason: 'r',
      requestedBy: 'x',
      regions,
    };
    const tooMany = decideIntake(POLICY, 'glidepath-deploy-requests', { data: b64(JSON.stringify(request)) });
    expect(tooMany).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/^regions: /) });
    expect(tooMany.reason.length).toBeLessThanOrEqual(2000);
    const decoded = decodeMessage(DeployRequest, b64(`{"${'x'.repeat(100_000)}":1}`), 'deploy request');
    expect(decoded.ok || decoded.reason.length).toBeLessThan(400);
  });

  it('an unreadable envelope never throws, and keeps at most MAX_PAYLOAD_BYTES of the event', () => {
    // Was a RangeError (JSON.stringify of the event) and a TypeError (a subscription that is not a string).
    const deep = unwrapPubsubEvent(event({ message: JSON.parse(nestedJson(20_000, 'array')) }));
    expect(deep).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^message: expected a Pub\/Sub message/),
    });
    expect(unwrapPubsubEvent(event({ subscription: 5 }, { source: undefined })).topic).toBeUndefined();
    // Was the whole event, re-encoded: 1.8 MB for a 1 MB payload, more than a Firestore document holds,
    // so recording the rejection failed and Pub/Sub redelivered it forever.
    const huge = unwrapPubsubEvent(event({ message: { data: b64('x'.repeat(1_000_000)), messageId: '1' } }));
    expect(huge.ok).toBe(false);
    expect(Buffer.from(huge.message.data!, 'base64').length).toBe(MAX_PAYLOAD_BYTES);
    expect(!huge.ok && huge.reason).toMatch(/message\.data: .*keeps only the first 262144 bytes/);
    checkRejectionRecord('gcr', huge.message, huge.ok ? '' : huge.reason);
  });

  it('a message id that cannot name a document, or data that is not base64, makes the envelope unreadable', () => {
    for (const messageId of ['a/b', 'a b', '', 'x'.repeat(257)]) {
      const u = unwrapPubsubEvent(event({ message: { data: 'e30=', messageId } }, { id: messageId }));
      expect(u).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/message\.messageId: expected a message id/),
      });
      expect(u.message.messageId).toBeUndefined(); // the record is then named by a hash of its payload
    }
    // Non-ASCII "data" of 349,000 characters is over 1 MB in UTF-8: a record of it would not fit.
    const wide = unwrapPubsubEvent(event({ message: { data: '€'.repeat(349_000), messageId: '1' } }));
    expect(wide).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/message\.data: expected base64/),
    });
    checkRejectionRecord('gcr', wide.message, 'x: y');
    expect(
      PubsubMessage.safeParse({
        attributes: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'v'])),
      }).success,
    ).toBe(false);
  });

  it('a raw push the framework did not convert (attributes, no data) is unwrapped with its id and topic', () => {
    // Was judged as an event without data: recorded as "null" under a hash shared by every such message.
    const body = {
      message: { messageId: '123', attributes: { origin: 'x' } },
      subscription: 'projects/p/subscriptions/gcr-intake',
    };
    const u = unwrapPubsubEvent(body as unknown as CloudEvent<PubsubEventData>);
    expect(u).toMatchObject({
      ok: true,
      topic: 'gcr',
      message: { messageId: '123', attributes: { origin: 'x' } },
    });
    expect(decideIntake(POLICY, u.topic, u.message)).toMatchObject({
      outcome: 'rejected',
      reason: 'message.data: expected base64-encoded JSON, got nothing',
    });
  });

  it('text that Firestore cannot store (lone surrogates, "__x__" names) is refused at the door', () => {
    // Each was accepted, then failed to be written (a rollout, job run or dead letter): an error, a redelivery.
    const request = {
      service: 'api',
      image: `${POLICY.services[0].image}@${GOOD_DIGEST}`,
      reason: '\ud800',
      requestedBy: 'x',
    };
    expect(
      decideIntake(POLICY, 'glidepath-deploy-requests', { data: b64(JSON.stringify(request)) }),
    ).toMatchObject({
      outcome: 'rejected',
      reason: 'invalid deploy request: reason: expected well-formed Unicode text, got a lone surrogate',
    });
    const env = { job: 'nightly-report', overrides: { env: { __x__: '1' } } };
    expect(decideJobTrigger(POLICY, { data: b64(JSON.stringify(env)), messageId: '1' })).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/^invalid job trigger: overrides\.env/),
    });
    for (const attributes of [{ __x__: 'v' }, { a: '\udc00' }, { '\ud800': 'v' }, { '': 'v' }])
      expect(PubsubMessage.safeParse({ data: 'e30=', attributes }).success).toBe(false);
    expect(ACTIONS.rollback.schema.safeParse({ ...ACTION_SAMPLES.rollback, reason: 'a\ud800' }).success).toBe(
      false,
    );
    // A value or reason cut at its limit never splits an emoji in two (half of one is a lone surrogate).
    expect(boundedJson('👩'.repeat(100), 4).text).toBe('"👩');
    expect(isWellFormed(show('👩'.repeat(100)))).toBe(true);
    expect(isWellFormed(boundReason(`x${'👩'.repeat(2000)}`))).toBe(true);
  });

  it('an action id with a "/" is a 400 naming the field, not a 503 retried forever', () => {
    for (const [action, body] of [
      ['job_run_finish', { runId: 'nightly/x', result: 'FAILED' }],
      ['job_run_attempt', { runId: '..', attempt: 1 }],
      ['job_attempt_status', { runId: '__x__', attempt: 1 }],
    ] as const) {
      const parsed = ACTIONS[action].schema.safeParse(body, { reportInput: true });
      expect(parsed.success).toBe(false);
      expect(describeIssues(parsed.error!).join('; ')).toMatch(/^runId: expected an id without "\/"/);
    }
    expect(
      ACTIONS.job_run_finish.schema.safeParse({ runId: 'nightly-report-m123', result: 'FAILED' }).success,
    ).toBe(true);
  });

  it('a policy mapping with tens of thousands of keys is refused naming the unknown fields, and duplicates still are', () => {
    const keys = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    expect(() => parsePolicyYaml(keys(20_000))).toThrow(/unknown field\(s\) "k0", .*and 19995 more/);
    expect(() => parsePolicyYaml(keys(60_000))).toThrow(
      `(root): expected at most ${MAX_POLICY_BYTES} bytes of YAML`,
    );
    // Duplicate keys are still refused, now by our own linear check.
    expect(() => parsePolicyYaml('jobs: []\nservices: []\njobs: []')).toThrow(
      /Map keys must be unique; "jobs" appears again at line 3, column 1/,
    );
  });

  it('a policy nested too deeply says so, as a ValidationError', () => {
    let error: unknown;
    try {
      parsePolicyYaml(`services: ${nestedJson(5_000, 'array')}`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(
      /^invalid policy: \(root\): expected YAML nested at most a few hundred levels deep/,
    );
  });
});

/**
 * Work counted, not timed: a wall-clock bound flakes on a loaded machine (the
 * fuzz bench, `npm run bench -- chaos`, holds each case to CASE_BUDGET_MS).
 * Each protection is checked by what it saves: the parser is never reached
 * over the size limit, and the YAML library's work grows linearly with keys.
 */
describe('the protections against slow input, by the work they save', () => {
  /** The YAML library's node-type checks, which its duplicate-key search makes for each pair of keys. */
  function countYamlNodeChecks(run: () => void): number {
    const identity = jest.requireActual<{ isScalar: (node: unknown) => boolean }>(
      join(dirname(require.resolve('yaml')), 'nodes/identity.js'),
    );
    const isScalar = identity.isScalar;
    let checks = 0;
    identity.isScalar = (node) => {
      checks++;
      return isScalar(node);
    };
    try {
      run();
    } catch {
      // the policies here are refused: only the work counts
    } finally {
      identity.isScalar = isScalar;
    }
    return checks;
  }
  const keys = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`;

  it("the YAML work grows linearly with a mapping's keys (the library's own duplicate check is quadratic: over a minute for 60,000)", () => {
    const small = countYamlNodeChecks(() => parsePolicyYaml(keys(2_000)));
    const large = countYamlNodeChecks(() => parsePolicyYaml(keys(4_000)));
    expect(small).toBeGreaterThanOrEqual(2_000); // the counter sees the library's work
    // Twice the keys, twice the work (quadratic would be four times: 2,000 keys make 4,004,000 checks).
    expect(large / small).toBeLessThanOrEqual(2.1);
  });

  it('a policy over MAX_POLICY_BYTES is refused before the YAML library reads it', () => {
    const yaml = jest.requireActual<{ parseDocument: (...args: unknown[]) => unknown }>('yaml');
    const parseDocument = jest.spyOn(yaml, 'parseDocument');
    try {
      const atLimit = `#${'x'.repeat(MAX_POLICY_BYTES - 2)}\n`;
      expect(Buffer.byteLength(atLimit)).toBe(MAX_POLICY_BYTES);
      parsePolicyYaml(atLimit); // a comment: an empty policy
      expect(parseDocument).toHaveBeenCalledTimes(1);
      parseDocument.mockClear();
      expect(() => parsePolicyYaml(`${atLimit}#`)).toThrow(
        `(root): expected at most ${MAX_POLICY_BYTES} bytes of YAML, got ${MAX_POLICY_BYTES + 1}`,
      );
      expect(parseDocument).not.toHaveBeenCalled();
    } finally {
      parseDocument.mockRestore();
    }
  });

  it('message data over MAX_PAYLOAD_BYTES is refused before it is parsed as JSON', () => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const atLimit = `{"action":"INSERT","digest":"${'x'.repeat(MAX_PAYLOAD_BYTES - 31)}"}`;
      expect(Buffer.byteLength(atLimit)).toBe(MAX_PAYLOAD_BYTES);
      decideIntake(POLICY, TOPICS.gcr, { data: b64(atLimit), messageId: '1' });
      expect(parse.mock.calls.some(([text]) => text === atLimit)).toBe(true);
      parse.mockClear();
      const over = `${atLimit} `;
      expect(decideIntake(POLICY, TOPICS.gcr, { data: b64(over), messageId: '1' })).toEqual({
        outcome: 'rejected',
        reason: `message.data: expected at most ${MAX_PAYLOAD_BYTES} bytes, got ${MAX_PAYLOAD_BYTES + 1}`,
      });
      expect(
        parse.mock.calls.some(([text]) => typeof text === 'string' && text.length >= MAX_PAYLOAD_BYTES),
      ).toBe(false);
    } finally {
      parse.mockRestore();
    }
  });
});
