/**
 * Conformance: one small workflow per semantic rule, with the results Google
 * documents for Cloud Workflows (see docs/workflows-emulator.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runWorkflow, WorkflowDefinitionError, verifyOidcToken } from '../../../emulators/workflows';
import { fail, ret, succeed, virtualClock } from './helpers';

describe('expressions', () => {
  test.each([
    ['7//2 is integer division', '7 // 2', 3],
    ['-7//2 floors', '-7 // 2', -4],
    ['% on ints', '7 % 3', 1],
    ['string + string', '"a" + "b"', 'ab'],
    ['precedence', '1 + 2 * 3', 7],
    ['comparison of int and double', '2 == 2.0', true],
    ['and/or/not', 'true and not false or false', true],
    ['in on list', '2 in [1, 2]', true],
    ['in on map keys', '"a" in {"a": 1}', true],
    ['in on map does not look at values', '"x" in {"a": "x"} == false', true],
    ['member and index access', '{"a": [10, {"b": "x"}]}.a[1].b', 'x'],
    ['null literal', 'null == null', true],
    ['string comparison', '"abc" < "abd"', true],
    ['single quotes', '\'it\' + "s"', 'its'],
  ])('%s', async (_name, expr, expected) => {
    expect((await succeed(ret(expr))).result).toEqual(expected);
  });

  test('a double keeps ".0" in the JSON result, as on GCP', async () => {
    expect((await succeed(ret('4/2'))).resultJson).toBe('2.0');
    expect((await succeed(ret('4//2'))).resultJson).toBe('2');
    expect((await succeed(ret('1 + 1.0'))).resultJson).toBe('2.0');
  });

  test.each([
    ['string + int', '"a" + 1', 'TypeError'],
    ['missing key', '{"a": 1}.b', 'KeyError'],
    ['index out of range', '[1][1]', 'IndexError'],
    ['division by zero', '1 / 0', 'ZeroDivisionError'],
    ['integer division by zero', '1 // 0', 'ZeroDivisionError'],
    ['and on non-booleans', '1 and true', 'TypeError'],
    ['int() of a non-number string', 'int("x1")', 'ValueError'],
  ])('%s raises %s', async (_name, expr, tag) => {
    expect((await fail(ret(expr))).tags).toEqual([tag]);
  });
});

describe('steps', () => {
  test('assign creates keys and replaces list items', async () => {
    const run = await succeed(`
- a:
    assign:
      - m: {}
      - m.x: 1
      - m["y"]: 2
      - m.n.deep: 3
      - l: [1, 2, 3]
      - l[1]: 20
- r:
    return: \${[m, l]}
`);
    expect(run.result).toEqual([{ x: 1, y: 2, n: { deep: 3 } }, [1, 20, 3]]);
  });

  test('assignment copies: changing the copy leaves the original alone', async () => {
    const run = await succeed(`
- a:
    assign:
      - a: {k: 1}
      - b: \${a}
      - b.k: 2
- r:
    return: \${a.k}
`);
    expect(run.result).toBe(1);
  });

  test('more than 50 assignments in one step are rejected at deploy time', async () => {
    const assigns = Array.from({ length: 51 }, (_, i) => `      - v${i}: ${i}`).join('\n');
    await expect(runWorkflow(`- big:\n    assign:\n${assigns}\n`)).rejects.toThrow(
      'step "big": "assign" has 51 assignments; the maximum is 50',
    );
  });

  test('for over a list with index; a variable created in the loop is not defined after it (refused at deploy time)', async () => {
    const loop = `
- init:
    assign:
      - sum: 0
- loop:
    for:
      value: v
      index: i
      in: [10, 20, 30]
      steps:
        - add:
            assign:
              - sum: \${sum + v * i}
              - inner: 1
`;
    expect((await succeed(`${loop}- r:\n    return: \${sum}\n`)).result).toBe(80);
    await expect(runWorkflow(`${loop}- read:\n    return: \${inner}\n`)).rejects.toThrow(
      'step "read": variable "inner" is not defined in this scope',
    );
  });

  test('range is inclusive; break and continue', async () => {
    const run = await succeed(`
- init:
    assign:
      - seen: []
- loop:
    for:
      value: n
      range: [1, 9]
      steps:
        - odd:
            switch:
              - condition: \${n % 2 == 1}
                next: continue
              - condition: \${n > 6}
                next: break
        - keep:
            assign:
              - seen: \${list.concat(seen, n)}
- r:
    return: \${seen}
`);
    expect(run.result).toEqual([2, 4, 6]);
  });

  test('switch: next jumps out, the step-level next is the default, and conditions can assign/return/raise/run steps', async () => {
    const source = `
main:
  params: [x]
  steps:
    - pick:
        switch:
          - condition: \${x == 1}
            next: one
          - condition: \${x == 2}
            return: two
          - condition: \${x == 3}
            raise: {code: 3}
          - condition: \${x == 4}
            assign:
              - y: four
            next: show
          - condition: \${x == 5}
            steps:
              - inner:
                  assign:
                    - y: five
        next: other
    - show:
        return: \${y}
    - one:
        return: one
    - other:
        return: other
`;
    expect((await succeed(source, 1)).result).toBe('one');
    expect((await succeed(source, 2)).result).toBe('two');
    expect((await runWorkflow(source, 3)).state).toBe('FAILED');
    expect((await succeed(source, 4)).result).toBe('four');
    expect((await succeed(source, 5)).result).toBe('five');
    expect((await succeed(source, 6)).result).toBe('other');
  });

  test('next: end stops the workflow with a null result', async () => {
    expect((await succeed('- a:\n    next: end\n- b:\n    return: 1\n')).result).toBeNull();
  });

  test('except sees the raised map, and a raised string', async () => {
    const run = await succeed(`
- t:
    try:
      raise:
        code: 42
        message: custom
    except:
      as: e
      steps:
        - t2:
            try:
              raise: plain
            except:
              as: s
              steps:
                - r:
                    return: \${[e.code, e.message, s]}
`);
    expect(run.result).toEqual([42, 'custom', 'plain']);
  });

  test('subworkflows: params with defaults, main receives the argument', async () => {
    const run = await succeed(
      `
main:
  params: [input]
  steps:
    - c:
        call: greet
        args:
          name: \${input.who}
        result: g
    - r:
        return: \${g}
greet:
  params: [name, greeting: Hello]
  steps:
    - r:
        return: \${greeting + ", " + name}
`,
      { who: 'Ada' },
    );
    expect(run.result).toBe('Hello, Ada');
  });

  test('unbounded recursion raises RecursionError', async () => {
    const err = await fail(`
main:
  steps:
    - c:
        call: down
        args: {n: 0}
down:
  params: [n]
  steps:
    - c:
        call: down
        args:
          n: \${n + 1}
`);
    expect(err.tags).toEqual(['RecursionError']);
  });

  test('a variable over the 512 KB limit raises ResourceLimitError', async () => {
    const err = await fail(`
- a:
    assign:
      - s: "${'x'.repeat(1024)}"
- grow:
    for:
      value: i
      range: [1, 10]
      steps:
        - double:
            assign:
              - s: \${s + s}
`);
    expect(err.tags).toEqual(['ResourceLimitError']);
  });
});

describe('parallel', () => {
  test('100 parallel increments of a shared counter end at exactly 100', async () => {
    const run = await succeed(`
- init:
    assign:
      - counter: 0
- fan:
    parallel:
      shared: [counter]
      concurrency_limit: 7
      for:
        value: i
        range: [1, 100]
        steps:
          - pause:
              call: sys.sleep
              args:
                seconds: 0.001
          - inc:
              assign:
                - counter: \${counter + 1}
- r:
    return: \${counter}
`);
    expect(run.result).toBe(100);
  });

  test('branches write shared variables; a non-shared write is refused', async () => {
    const run = await succeed(`
- init:
    assign:
      - a: 0
      - b: 0
- fan:
    parallel:
      shared: [a, b]
      branches:
        - one:
            steps:
              - s1:
                  assign:
                    - a: 1
        - two:
            steps:
              - s2:
                  assign:
                    - b: 2
- r:
    return: \${a + b}
`);
    expect(run.result).toBe(3);
  });

  test('continueAll runs every branch, then raises UnhandledBranchError listing the failures', async () => {
    const run = await runWorkflow(`
- init:
    assign:
      - done: 0
- fan:
    try:
      parallel:
        shared: [done]
        exception_policy: continueAll
        for:
          value: i
          in: [1, 2, 3, 4]
          steps:
            - maybe:
                switch:
                  - condition: \${i % 2 == 0}
                    raise: \${"bad " + string(i)}
            - ok:
                assign:
                  - done: \${done + 1}
    except:
      as: e
      steps:
        - r:
            return: \${[done, e.tags, len(e.branches)]}
`);
    expect(run).toMatchObject({ state: 'SUCCEEDED', result: [2, ['UnhandledBranchError'], 2] });
  });
});

describe('retry', () => {
  const flaky = (retry: string): string => `
main:
  steps:
    - init:
        assign:
          - attempts: 0
    - t:
        try:
          steps:
            - count:
                assign:
                  - attempts: \${attempts + 1}
            - fail:
                switch:
                  - condition: \${attempts < 4}
                    raise: {code: 503, tags: [Flaky]}
        retry: ${retry}
    - r:
        return: \${attempts}
always_retry:
  params: [e]
  steps:
    - r:
        return: \${"Flaky" in e.tags}
`;

  test('backoff waits initial_delay * multiplier^n, capped at max_delay, on the injected clock', async () => {
    const clock = virtualClock();
    const run = await succeed(
      flaky(`
          predicate: \${always_retry}
          max_retries: 5
          backoff:
            initial_delay: 1
            max_delay: 3
            multiplier: 2`),
      null,
      { clock },
    );
    expect(run.result).toBe(4);
    expect(clock.sleeps).toEqual([1000, 2000, 3000]);
  });

  test('sleepScale divides backoff durations', async () => {
    const clock = virtualClock();
    await succeed(flaky('${http.default_retry}'), null, { clock, sleepScale: 10 });
    // http.default_retry: initial 1 s, multiplier 1.25, retries on code 503.
    expect(clock.sleeps).toEqual([100, 125, 156.25]);
  });

  test('the error is re-raised once max_retries is exhausted', async () => {
    const clock = virtualClock();
    const err = await fail(
      flaky(`
          predicate: \${always_retry}
          max_retries: 2
          backoff:
            initial_delay: 1
            max_delay: 10
            multiplier: 1`),
      { clock },
    );
    expect(err.code).toBe(503);
    expect(clock.sleeps).toEqual([1000, 1000]);
  });

  test('each retry attempt counts as steps', async () => {
    const run = await succeed(flaky('${http.default_retry}'));
    // init + 4 × (try + count + fail) + return
    expect(run.stats).toEqual({ steps: 14, internalSteps: 14, externalSteps: 0 });
  });
});

describe('standard library', () => {
  test.each([
    ['default', 'default(null, "d")', 'd'],
    ['len of map', 'len({"a": 1, "b": 2})', 2],
    ['keys', 'keys({"a": 1, "b": 2})', ['a', 'b']],
    ['int of double truncates', 'int(2.7)', 2],
    ['string of double', 'string(2.5)', '2.5'],
    ['string of integral double', 'string(4/2)', '2.0'],
    ['map.get with a key path', 'map.get({"a": {"b": 1}}, ["a", "b"])', 1],
    ['map.get missing', 'map.get({"a": {}}, ["a", "b"])', null],
    ['map.merge', 'map.merge({"a": 1, "b": 1}, {"b": 2})', { a: 1, b: 2 }],
    ['map.delete', 'map.delete({"a": 1, "b": 2}, "a")', { b: 2 }],
    ['list.concat', 'list.concat([1], 2)', [1, 2]],
    ['text.split', 'text.split("a,b,c", ",")', ['a', 'b', 'c']],
    ['text.replace_all', 'text.replace_all("a-b-c", "-", "+")', 'a+b+c'],
    ['text.find_all', 'text.find_all("abcab", "ab")', [0, 3]],
    ['text.substring', 'text.substring("hello", 1, 3)', 'el'],
    ['text case', 'text.to_upper("a") + text.to_lower("B")', 'Ab'],
    ['text.encode/decode', 'text.decode(text.encode("héllo"))', 'héllo'],
    ['base64 round trip', 'base64.encode(text.encode("hi"))', 'aGk='],
    ['base64.decode', 'text.decode(base64.decode("aGk="))', 'hi'],
    ['json.decode', 'json.decode("{\\"a\\": [1, 2.5]}")', { a: [1, 2.5] }],
    ['json.encode_to_string', 'json.encode_to_string({"a": [1, 4/2]})', '{"a":[1,2.0]}'],
    ['json.encode returns bytes', 'base64.encode(json.encode(1))', 'MQ=='],
    ['time.format', 'time.format(0)', '1970-01-01T00:00:00Z'],
    ['time.parse', 'time.parse("1970-01-01T00:01:00Z")', 60],
    ['math', '[math.abs(-2), math.max(1, 2.5), math.min(1, 2), math.floor(2.7)]', [2, 2.5, 1, 2]],
    ['uuid.generate', 'len(uuid.generate())', 36],
    ['sys.get_env', 'sys.get_env("COLOR")', 'blue'],
  ])('%s', async (_name, expr, expected) => {
    expect((await succeed(ret(expr), null, { env: { COLOR: 'blue' } })).result).toEqual(expected);
  });

  test('sys.now reads the injected clock; sys.sleep advances it', async () => {
    const clock = virtualClock(1_000_000);
    const run = await succeed(
      `
- a:
    assign:
      - t0: \${sys.now()}
- s:
    call: sys.sleep
    args:
      seconds: 30
- r:
    return: \${sys.now() - t0}
`,
      null,
      { clock },
    );
    expect(run.result).toBe(30);
    expect(clock.sleeps).toEqual([30000]);
  });
});

describe('http', () => {
  let server: Server;
  let base: string;
  const seen: { path: string; auth?: string; body: string }[] = [];
  let failuresLeft = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', auth: req.headers.authorization, body });
        if (req.url?.startsWith('/flaky') && failuresLeft-- > 0) {
          res.writeHead(503, { 'content-type': 'application/json' });
          return res.end('{"error":"busy"}');
        }
        if (req.url?.startsWith('/missing')) {
          res.writeHead(404, { 'content-type': 'application/json' });
          return res.end('{"error":"nope"}');
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: body ? JSON.parse(body) : null, path: req.url }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('http.post sends JSON with an OIDC token and decodes the JSON response; calls count as external steps', async () => {
    const run = await succeed(
      `
- p:
    call: http.post
    args:
      url: ${base}/act?x=1
      query: {y: "2"}
      body: {n: 1}
      auth: {type: OIDC}
    result: resp
- r:
    return: \${[resp.code, resp.body]}
`,
      null,
      { clock: undefined, serviceAccount: 'wf@p.iam.gserviceaccount.com', oidcSecret: 's3cret' },
    );
    expect(run.result).toEqual([200, { echo: { n: 1 }, path: '/act?x=1&y=2' }]);
    expect(run.stats).toEqual({ steps: 2, internalSteps: 1, externalSteps: 1 });
    const token = seen.at(-1)!.auth!.replace(/^Bearer /, '');
    // The default audience is the url argument, not its origin.
    expect(verifyOidcToken(token, 's3cret', 'wf@p.iam.gserviceaccount.com').aud).toBe(`${base}/act?x=1`);
    expect(() => verifyOidcToken(token, 'other', 'wf@p.iam.gserviceaccount.com')).toThrow('bad signature');
  });

  test('status >= 400 raises HttpError with code, body and headers', async () => {
    const err = await fail(`
- g:
    call: http.get
    args:
      url: ${base}/missing
`);
    expect(err).toMatchObject({ tags: ['HttpError'], code: 404, body: { error: 'nope' } });
    expect((err.headers as Record<string, string>)['content-type']).toBe('application/json');
  });

  test('a refused connection raises ConnectionFailedError alone (error-types)', async () => {
    const err = await fail(`
- g:
    call: http.get
    args:
      url: http://127.0.0.1:1/
`);
    expect(err.tags).toEqual(['ConnectionFailedError']);
  });

  test('${http.default_retry} retries 503 with 1 s, 1.25 s backoff', async () => {
    failuresLeft = 2;
    const clock = virtualClock();
    const run = await succeed(
      `
- g:
    try:
      call: http.get
      args:
        url: ${base}/flaky
      result: resp
    retry: \${http.default_retry}
- r:
    return: \${resp.code}
`,
      null,
      { clock },
    );
    expect(run.result).toBe(200);
    expect(clock.sleeps).toEqual([1000, 1250]);
  });
});

describe('deploy-time validation names the step and the construct', () => {
  test.each([
    ['unknown step kind', '- s1:\n    wait: 5\n', 'step "s1": unknown step kind with keys [wait]'],
    [
      'unknown key',
      '- s1:\n    assign:\n      - a: 1\n    result: x\n',
      'step "s1": unknown or unsupported key "result"',
    ],
    ['unknown function in call', '- s1:\n    call: sys.nope\n', 'step "s1": unknown function "sys.nope"'],
    [
      'unknown function in expression',
      '- s1:\n    return: ${nope(1)}\n',
      'step "s1": unknown function "nope"',
    ],
    [
      'blocking call in an expression',
      '- s1:\n    return: ${http.get("x")}\n',
      'blocking function "http.get" can only be used in a call step',
    ],
    ['unknown next target', '- s1:\n    next: nowhere\n', 'step "s1": "next" names unknown step "nowhere"'],
    [
      'unknown call argument',
      '- s1:\n    call: sys.sleep\n    args:\n      secs: 1\n',
      '"sys.sleep" has no parameter "secs"',
    ],
    ['bad expression', '- s1:\n    return: ${1 +}\n', 'step "s1": invalid expression'],
    [
      'unknown exception policy',
      '- s1:\n    parallel:\n      exception_policy: stop\n      for:\n        value: v\n        in: [1]\n        steps:\n          - x:\n              next: end\n',
      'step "s1": "parallel.exception_policy"',
    ],
  ])('%s', async (_name, source, message) => {
    const run = runWorkflow(source);
    await expect(run).rejects.toThrow(WorkflowDefinitionError);
    await expect(runWorkflow(source)).rejects.toThrow(message);
  });
});

test('aborting the signal cancels a sleeping execution', async () => {
  const controller = new AbortController();
  // No wall-clock bound: without the abort the hour-long sleep outlasts the test's timeout.
  const run = runWorkflow('- s:\n    call: sys.sleep\n    args:\n      seconds: 3600\n', null, {
    signal: controller.signal,
  });
  controller.abort();
  expect((await run).state).toBe('CANCELLED');
});
