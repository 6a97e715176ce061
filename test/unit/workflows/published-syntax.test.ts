/**
 * Issue #14: the emulator against Google's published Workflows syntax. Each
 * case follows a page cited in docs/workflows-emulator.md, and failed on the
 * engine before the fix.
 */
import { compileWorkflow, runWorkflow, WorkflowDefinitionError } from '../../../emulators/workflows';
import { fail, ret, succeed, virtualClock } from './helpers';

const rejected = async (source: string, message: string | RegExp): Promise<void> => {
  await expect(runWorkflow(source)).rejects.toThrow(WorkflowDefinitionError);
  await expect(runWorkflow(source)).rejects.toThrow(message);
};

describe('for.range (syntax/iteration, the published schema)', () => {
  test('one expression for the whole list, ${[start, end]}, iterates inclusively', async () => {
    const run = await succeed(
      `
main:
  params: [n]
  steps:
    - init:
        assign:
          - seen: []
    - loop:
        for:
          value: i
          range: \${[1, n]}
          steps:
            - add:
                assign:
                  - seen: \${list.concat(seen, i)}
    - r:
        return: \${seen}
`,
      3,
    );
    expect(run.result).toEqual([1, 2, 3]);
  });

  test('two literal numbers still work', async () => {
    const run = await succeed(
      '- loop:\n    for:\n      value: i\n      range: [2, 4]\n      steps:\n        - s:\n            next: continue\n- r:\n    return: 1\n',
    );
    expect(run.result).toBe(1);
  });

  test('an expression inside the list is refused at deploy time, naming the step', () =>
    rejected(
      `
main:
  params: [n]
  steps:
    - loop:
        for:
          value: i
          range: [1, '\${n}']
          steps:
            - s:
                next: continue
`,
      /step "loop": "for.range" must be two literal numbers/,
    ));
});

describe('parallel: continueAll is the default and only policy (syntax/parallel-steps)', () => {
  test('without exception_policy, the other branches still run to completion, then UnhandledBranchError', async () => {
    const run = await succeed(`
- init:
    assign:
      - done: {}
- fan:
    try:
      parallel:
        shared: [done]
        branches:
          - fails:
              steps:
                - boom:
                    raise: "bad"
          - slow:
              steps:
                - wait:
                    call: sys.sleep
                    args:
                      seconds: 5
                - mark:
                    assign:
                      - done.slow: true
    except:
      as: e
      steps:
        - r:
            return: \${[e.tags, done]}
`);
    expect(run.result).toEqual([['UnhandledBranchError'], { slow: true }]);
  });
});

describe('standard library (stdlib pages)', () => {
  test.each([
    ['bool() is not a Workflows function', 'bool("true")', 'unknown function "bool"'],
    ['get_type() is not on the stdlib pages', 'get_type(1)', 'unknown function "get_type"'],
  ])('%s', (_name, expr, message) => rejected(ret(expr), message));

  test.each([
    ['map.get on a non-map returns null', 'map.get("text", "a")', null],
    ['map.get on a list returns null', 'map.get([1], ["a", "b"])', null],
    ['text.substring: a negative index is an offset from the end', 'text.substring("hello", -3, -1)', 'll'],
    ['text.substring: indexes are clamped', 'text.substring("hello", -10, 10)', 'hello'],
    ['text.replace_all with an empty substr: k+1 replacements', 'text.replace_all("ab", "", "-")', '-a-b-'],
    ['list.prepend', 'list.prepend([2, 3], 1)', [1, 2, 3]],
    ['text.url_encode', 'text.url_encode("a b/ü?&")', 'a%20b%2F%C3%BC%3F%26'],
    [
      'json.encode_to_string with indent false is compact',
      'json.encode_to_string({"a": [1]}, false)',
      '{"a":[1]}',
    ],
  ])('%s', async (_name, expr, expected) => {
    expect((await succeed(ret(expr))).result).toEqual(expected);
  });

  test('json.encode_to_string indent: each element on a new line with prefix and one indent per level', async () => {
    const text = (await succeed(ret('json.encode_to_string({"a": [1, 2]}, {"prefix": ">", "indent": "--"})')))
      .result as string;
    const lines = text.split('\n');
    // Nesting depth of each line after the first (the colon's spacing is not documented).
    expect(lines.slice(1).map((l) => (/^>((?:--)*)[^-]/.exec(l)?.[1].length ?? -2) / 2)).toEqual([
      1, 2, 2, 1, 0,
    ]);
    expect(JSON.parse(text.replace(/^>(?:--)*/gm, ''))).toEqual({ a: [1, 2] });
    const fourSpaces = (await succeed(ret('json.encode_to_string([1], true)'))).result as string;
    expect(fourSpaces.split('\n')[1]).toBe('    1');
    const bytes = (await succeed(ret('text.decode(json.encode([1], true))'))).result;
    expect(bytes).toBe(fourSpaces);
  });

  test('sys.sleep refuses more than 31,536,000 s (one year)', async () => {
    const clock = virtualClock();
    const err = await fail('- s:\n    call: sys.sleep\n    args:\n      seconds: 31536001\n', { clock });
    expect(err.tags).toEqual(['ValueError']);
    expect(clock.sleeps).toEqual([]);
    await succeed('- s:\n    call: sys.sleep\n    args:\n      seconds: 31536000\n', null, { clock });
    expect(clock.sleeps).toEqual([31_536_000_000]);
  });
});

describe("constructs Google's samples use deploy (workflows-samples, checked by scripts/check-workflows-samples.ts)", () => {
  test('a connector call deploys, and running it fails the execution with a clear error that except cannot swallow', async () => {
    const source = `
- read:
    try:
      call: googleapis.firestore.v1.projects.databases.documents.get
      args:
        name: projects/p/databases/(default)/documents/c/d
        connector_params:
          timeout: 60
      result: doc
    except:
      as: e
      steps:
        - swallowed:
            return: "caught"
- r:
    return: \${doc}
`;
    const run = await runWorkflow(source, null, { clock: virtualClock() });
    expect(run.state).toBe('FAILED');
    expect(JSON.stringify(run)).toContain(
      'connector call \\"googleapis.firestore.v1.projects.databases.documents.get\\" is not available on the local engine',
    );
  });

  test('a gke.* connector and a connector function in an expression deploy too', async () => {
    const run = await runWorkflow(
      ret('googleapis.secretmanager.v1.projects.secrets.versions.accessString("s")'),
      null,
      { clock: virtualClock() },
    );
    expect(run.state).toBe('FAILED');
    expect(JSON.stringify(run)).toContain('is not available on the local engine');
    const gke = await runWorkflow('- g:\n    call: gke.request\n    args:\n      cluster_id: c\n', null, {
      clock: virtualClock(),
    });
    expect(gke.state).toBe('FAILED');
  });

  test.each([
    [
      'AND/OR/NOT in upper case (syntax/datatypes: lower or upper, not mixed)',
      'true AND NOT false OR false',
      true,
    ],
  ])('%s', async (_name, expr, expected) => {
    expect((await succeed(ret(expr))).result).toBe(expected);
  });
});

describe('deploy-time scoping (syntax/parallel-steps "Shared variables"; the parallel_shared_variables sample)', () => {
  const parallel = (branchStep: string): string => `
- init:
    assign:
      - input: ["apples", "oranges"]
      - my_result: {}
- fan:
    parallel:
      shared: [my_result]
      branches:
        - one:
            steps:
              - s1:
                  assign:
                    - my_result["one"]: \${input[0]}
                    - temp2: "foo"
        - two:
            steps:
${branchStep}
- r:
    return: \${my_result}
`;
  test('a branch writes a shared variable and its own locals', async () => {
    const run = await succeed(
      parallel('              - s2:\n                  assign:\n                    - temp: 2\n'),
    );
    expect(run.result).toEqual({ one: 'apples' });
  });

  test.each([
    [
      'writing a parent variable not listed in shared',
      '              - s2:\n                  assign:\n                    - input: 5\n',
      'step "s2": variable "input" is assigned in a parallel branch but belongs to the enclosing scope and is not listed in "shared"',
    ],
    [
      'writing into a non-shared parent map by key',
      '              - s2:\n                  assign:\n                    - input[0]: "pears"\n',
      'step "s2": variable "input" is assigned in a parallel branch',
    ],
    [
      'reading a variable defined only in a sibling branch',
      '              - s2:\n                  assign:\n                    - temp: ${temp2}\n',
      'step "s2": variable "temp2" is not defined in this scope',
    ],
  ])('%s is refused at deploy time, before anything runs', async (_name, branchStep, message) => {
    await expect(runWorkflow(parallel(branchStep))).rejects.toThrow(WorkflowDefinitionError);
    await expect(runWorkflow(parallel(branchStep))).rejects.toThrow(message);
  });

  test('reading a variable assigned nowhere is refused at deploy time', () =>
    rejected(
      '- a:\n    assign:\n      - x: 1\n- r:\n    return: ${x + y}\n',
      'step "r": variable "y" is not defined',
    ));

  test('subworkflow params, loop variables, call results and except.as are defined', async () => {
    const run = await succeed(`
main:
  steps:
    - c:
        call: twice
        args:
          n: 2
        result: out
    - t:
        try:
          raise: "x"
        except:
          as: e
          steps:
            - loop:
                for:
                  value: v
                  in: [1]
                  steps:
                    - s:
                        assign:
                          - out: \${out + v}
    - r:
        return: \${[out, e]}
twice:
  params: [n]
  steps:
    - r:
        return: \${n * 2}
`);
    expect(run.result).toEqual([5, 'x']);
  });
});

describe("the published schema's limits and types (workflows-samples/jsonschema/workflows.json)", () => {
  const after = (step: string) => `${step}- r:\n    return: 1\n`;
  const logStep = (name: string) =>
    `        - ${name}:\n            steps:\n              - s_${name}:\n                  call: sys.log\n                  args:\n                    text: "x"\n`;
  const retry = (backoff: string, maxRetries = '2') =>
    after(
      `- t:\n    try:\n      call: sys.log\n      args:\n        text: x\n    retry:\n      predicate: \${http.default_retry_predicate}\n      max_retries: ${maxRetries}\n      backoff:\n${backoff}`,
    );
  const cases: Array<[string, string, string]> = [
    [
      'a subworkflow with 11 params',
      `main:\n  steps:\n    - r:\n        return: 1\nsub:\n  params: [a, b, c, d, e, f, g, h, i, j, k]\n  steps:\n    - r:\n        return: 1\n`,
      'subworkflow "sub" takes 11 params; the maximum is 10',
    ],
    [
      'a subworkflow param listed twice',
      `main:\n  steps:\n    - r:\n        return: 1\nsub:\n  params: [a, a]\n  steps:\n    - r:\n        return: 1\n`,
      'subworkflow "sub" lists param "a" twice',
    ],
    [
      'eleven parallel branches',
      after(
        `- p:\n    parallel:\n      branches:\n${Array.from({ length: 11 }, (_, i) => logStep(`b${i}`)).join('')}`,
      ),
      'step "p": "parallel.branches" lists 11 branches; the maximum is 10',
    ],
    [
      'a switch with 51 conditions',
      after(
        `- s:\n    switch:\n${Array.from({ length: 51 }, (_, i) => `      - condition: \${${i} == 1}\n        next: r\n`).join('')}`,
      ),
      'step "s": "switch" has 51 conditions; the maximum is 50',
    ],
    [
      'a condition that is neither an expression nor a boolean',
      after(`- s:\n    switch:\n      - condition: "yes"\n        next: r\n`),
      '"condition" must be an expression ${...} or true/false, got "yes"',
    ],
    [
      'for.in a string',
      after(
        `- f:\n    for:\n      value: v\n      in: "abc"\n      steps:\n        - s:\n            assign:\n              - x: 1\n`,
      ),
      '"for.in" must be a list or an expression ${...}, got "abc"',
    ],
    [
      'a fractional backoff multiplier',
      retry('        initial_delay: 1\n        max_delay: 10\n        multiplier: 1.5\n'),
      '"retry.backoff.multiplier" must be a whole number, got 1.5',
    ],
    [
      'max_retries as an expression',
      retry('        initial_delay: 1\n        max_delay: 10\n        multiplier: 2\n', '${2}'),
      '"retry.max_retries" must be a whole number, got "${2}"',
    ],
    [
      'empty headers',
      after(`- h:\n    call: http.get\n    args:\n      url: https://example.com\n      headers: {}\n`),
      '"args.headers" must be a map with at least one header, got {}',
    ],
    [
      'a url that is not a string',
      after(`- h:\n    call: http.get\n    args:\n      url: 5\n`),
      '"args.url" must be a URL or an expression, got 5',
    ],
  ];
  test.each(cases)(
    'rejects %s at deploy time, naming the step and the limit',
    async (_name, source, message) => {
      await rejected(source, message);
    },
  );

  test('accepts each construct at its limit', async () => {
    const atLimit = [
      after(
        `- p:\n    parallel:\n      branches:\n${Array.from({ length: 10 }, (_, i) => logStep(`b${i}`)).join('')}`,
      ),
      after(
        `- s:\n    switch:\n${Array.from({ length: 50 }, (_, i) => `      - condition: \${${i} == 1}\n        next: r\n`).join('')}`,
      ),
      `main:\n  steps:\n    - r:\n        return: 1\nsub:\n  params: [a, b, c, d, e, f, g, h, i, j]\n  steps:\n    - r:\n        return: 1\n`,
      retry('        initial_delay: 1\n        max_delay: 10\n        multiplier: 2\n'),
      after(
        `- h:\n    call: http.get\n    args:\n      url: \${"https://example.com"}\n      headers:\n        X-A: b\n`,
      ),
    ];
    for (const source of atLimit) expect(() => compileWorkflow(source)).not.toThrow();
  });
});
