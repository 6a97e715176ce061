/**
 * Issue #14 item 10: the rest of the standard library against its reference
 * pages (https://cloud.google.com/workflows/docs/reference/stdlib/<module>/<function>).
 * Expected values are the pages' own examples where they give one. Each case
 * for a behaviour changed here failed on the engine before the change; see
 * docs/workflows-emulator.md for the page behind each.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runWorkflow, WorkflowDefinitionError } from '../../../emulators/workflows';
import { fail, ret, succeed, virtualClock } from './helpers';

const value = async (expr: string): Promise<unknown> => (await succeed(ret(expr))).result;
const raised = async (expr: string): Promise<unknown> => (await fail(ret(expr))).tags;

describe('text.split (stdlib/text/split)', () => {
  test.each([
    ['overlapping separators: the leftmost match', 'text.split("baaab", "aa")', ['b', 'ab']],
    ['separator at the start', 'text.split("abc", "a")', ['', 'bc']],
    ['separator at the end', 'text.split("abc", "c")', ['ab', '']],
    ['consecutive separators keep the empty substring', 'text.split("abbc", "b")', ['a', '', 'c']],
    ['separator not found', 'text.split("abc", "x")', ['abc']],
  ])('%s', async (_name, expr, expected) => expect(await value(expr)).toEqual(expected));

  test('an empty separator raises ValueError', async () => {
    expect(await raised('text.split("abc", "")')).toEqual(['ValueError']);
  });
});

describe('text.find_all (stdlib/text/find_all)', () => {
  test.each([
    ['non-overlapping, leftmost first', 'text.find_all("00000", "00")', [0, 2]],
    ['every instance', 'text.find_all("Hello World", "l")', [2, 3, 9]],
    ['indexes count code points', 'text.find_all("😀ab😀ab", "ab")', [1, 4]],
    ['no match is an empty list', 'text.find_all("abc", "x")', []],
    ['substr is literal text, not a pattern', 'text.find_all("a.b*(a.b*(", ".b*(")', [1, 6]],
  ])('%s: a sorted list of indexes', async (_name, expr, expected) =>
    expect(await value(expr)).toEqual(expected),
  );
});

describe('regular expressions (stdlib/text/match_regex, find_all_regex, replace_all_regex; RE2 syntax)', () => {
  test.each([
    ['match_regex finds a match anywhere', 'text.match_regex("HelloWorld", "Hello|Goodbye")', true],
    ['match_regex without a match', 'text.match_regex("HelloWorld", "Goodbye")', false],
    [
      'find_all_regex: index and match of each',
      'text.find_all_regex("HelloWorld", "Hello|World")',
      [
        { index: 0, match: 'Hello' },
        { index: 5, match: 'World' },
      ],
    ],
    ['find_all_regex without a match', 'text.find_all_regex("abc", "x+")', []],
    [
      'find_all_regex indexes count code points',
      'text.find_all_regex("😀b", "b")',
      [{ index: 1, match: 'b' }],
    ],
    ['replace_all_regex', 'text.replace_all_regex("one two", "one|two", "three")', 'three three'],
    [
      'replace_all_regex with an empty regexp: k+1 replacements',
      'text.replace_all_regex("ab", "", "-")',
      '-a-b-',
    ],
    ['RE2 named groups (?P<name>re)', 'text.find_all_regex("ab", "(?P<x>b)")', [{ index: 1, match: 'b' }]],
    ['RE2 flags (?i)', 'text.match_regex("ABC", "(?i)abc")', true],
  ])('%s', async (_name, expr, expected) => expect(await value(expr)).toEqual(expected));

  test.each([
    ['match_regex', 'TypeError', 'text.match_regex(1, "a")'],
    ['find_all_regex', 'TypeError', 'text.find_all_regex("a", 1)'],
    ['replace_all_regex', 'TypeError', 'text.replace_all_regex("a", "a", 1)'],
    ['an invalid regexp', 'ValueError', 'text.match_regex("a", "(")'],
    ['lookahead, which RE2 does not support', 'ValueError', 'text.match_regex("ab", "a(?=b)")'],
    ['a backreference, which RE2 does not support', 'ValueError', 'text.match_regex("aa", "(a)\\\\1")'],
  ])('%s raises %s', async (_name, tag, expr) => expect(await raised(expr)).toEqual([tag]));
});

describe('base64.decode (stdlib/base64/decode)', () => {
  test.each([
    ['carriage returns and newlines are ignored', 'text.decode(base64.decode("aG\\r\\nk=\\n"))', 'hi'],
    ['padding: false accepts unaligned input', 'text.decode(base64.decode("aGk", false))', 'hi'],
  ])('%s', async (_name, expr, expected) => expect(await value(expr)).toEqual(expected));

  test.each([
    ['input not aligned to 4 with padding (the default)', 'base64.decode("aGk")'],
    ['a character outside the alphabet', 'base64.decode("a*k=")'],
  ])('%s raises ValueError', async (_name, expr) => expect(await raised(expr)).toEqual(['ValueError']));
});

describe('sys.log (stdlib/sys/log)', () => {
  const log = (args: string): string => `- l:\n    call: sys.log\n    args:\n${args}`;

  test.each([
    ['both data and text', '      data: a\n      text: b\n'],
    ['none of data, text or json', '      severity: INFO\n'],
    ['json that is not a map', '      json: [1]\n'],
  ])('%s raises TypeError', async (_name, args) => {
    expect((await fail(log(args))).tags).toEqual(['TypeError']);
  });

  test('a severity that is not one of the listed values is refused', async () => {
    await fail(log('      text: a\n      severity: LOUD\n'));
    await succeed(log('      text: a\n      severity: NOTICE\n'));
  });

  test('sys.log is a blocking call: refused inside an expression at deploy time', async () => {
    await expect(runWorkflow(ret('sys.log("a")'))).rejects.toThrow(WorkflowDefinitionError);
  });
});

describe('hash.compute_checksum (stdlib/hash/compute_checksum)', () => {
  test('the page\'s example: SHA256 of "Hello World", Base64-encoded', async () => {
    expect(
      await value('base64.encode(hash.compute_checksum(text.encode("Hello World", "UTF-8"), "SHA256"))'),
    ).toBe('pZGm1Av0IEBKARczz7exkNYsZb8LzaMrV7J32a2fFG4=');
  });

  // Expected digests computed with `openssl dgst -<alg> -binary | base64`.
  test.each([
    ['MD5', 'sQqNsWTgdUEFt6mb5y4/5Q=='],
    ['SHA1', 'Ck1VqNd45QIvq3AZd8XYQLvEhtA='],
    ['SHA224', 'xIkPr/2wEF2ZGkYeZo4nZoVAGwLqse9DcnlQRw=='],
    ['SHA384', 'mVFDKRhrL2rkoTKefubGEKcpY2M1F0rGt0D5AoOW/MgD0Ok4Y6fD2Q+Gvu54L08/'],
    ['SHA512', 'LHT9F+2v2A6ER7DUZ0HuJDt+t03SFJoKsbkkb7MDgvJ+hT2FhXGeDmfL2g2qj1FnEGRhXWRa4nrLFb+xRH9Fmw=='],
  ])('%s', async (algorithm, expected) => {
    expect(
      await value(`base64.encode(hash.compute_checksum(text.encode("Hello World"), "${algorithm}"))`),
    ).toBe(expected);
  });

  test.each([
    ['data that is not bytes', 'TypeError', 'hash.compute_checksum("Hello", "SHA256")'],
    ['an algorithm that is not a string', 'TypeError', 'hash.compute_checksum(text.encode("a"), 1)'],
    ['an unsupported algorithm', 'ValueError', 'hash.compute_checksum(text.encode("a"), "SHA3")'],
  ])('%s raises %s', async (_name, tag, expr) => expect(await raised(expr)).toEqual([tag]));
});

describe('map.merge_nested (stdlib/map/merge_nested)', () => {
  test("the page's example merges nested maps recursively", async () => {
    expect(
      await value('map.merge_nested({"key1": {"key2": "value2"}}, {"key1": {"key3": "value3"}})'),
    ).toEqual({
      key1: { key2: 'value2', key3: 'value3' },
    });
  });

  test('the second map wins for a key that is not a map in both', async () => {
    expect(await value('map.merge_nested({"a": {"b": 1}, "c": 1}, {"a": 2, "c": {"d": 3}})')).toEqual({
      a: 2,
      c: { d: 3 },
    });
  });

  test('a non-map raises TypeError', async () => {
    expect(await raised('map.merge_nested({}, [1])')).toEqual(['TypeError']);
  });
});

describe('time.parse (stdlib/time/parse)', () => {
  test("the page's example", async () => {
    expect(await value('time.parse("2024-05-08T12:01:00.000000Z")')).toBe(1715169660);
  });

  test('keeps microsecond precision', async () => {
    expect(await value('time.parse("1970-01-01T00:00:00.000001Z")')).toBe(0.000001);
  });
});

describe('text.url_decode and text.url_encode_plus (stdlib/text/url_decode, url_encode_plus)', () => {
  test.each([
    ["url_decode: the page's example", 'text.url_decode("a%2Fb%2Fc%3Fitem%3Dd%2Be")', 'a/b/c?item=d+e'],
    ['url_decode: pluses are spaces, sequences are UTF-8', 'text.url_decode("a+b%C3%BC")', 'a bü'],
    [
      "url_encode_plus: the page's example",
      'text.url_encode_plus("a/b/c?item=d+e f")',
      'a%2Fb%2Fc%3Fitem%3Dd%2Be+f',
    ],
    [
      'url_encode_plus keeps only letters, digits and .-_',
      'text.url_encode_plus("aZ09.-_~*ü")',
      'aZ09.-_%7E%2A%C3%BC',
    ],
  ])('%s', async (_name, expr, expected) => expect(await value(expr)).toEqual(expected));

  test.each([
    ['url_decode of a % not followed by two hex digits', 'ValueError', 'text.url_decode("a%2")'],
    ['url_decode of a non-string', 'TypeError', 'text.url_decode(1)'],
    ['url_encode_plus of a non-string', 'TypeError', 'text.url_encode_plus(1)'],
  ])('%s raises %s', async (_name, tag, expr) => expect(await raised(expr)).toEqual([tag]));
});

describe('hash.compute_hmac (stdlib/hash/compute_hmac)', () => {
  test('the page\'s example: HMAC SHA256 of "Hello World" with key "key"', async () => {
    expect(
      await value(
        'base64.encode(hash.compute_hmac(text.encode("key"), text.encode("Hello World"), "SHA256"))',
      ),
    ).toBe('QidPcoCDkuWLV9co1+PA5RY+rwfRZdwDEF9iq74afRE=');
  });

  test.each([
    ['a key that is not bytes', 'TypeError', 'hash.compute_hmac("key", text.encode("a"), "SHA256")'],
    ['data that is not bytes', 'TypeError', 'hash.compute_hmac(text.encode("key"), "a", "SHA256")'],
    [
      'an unsupported algorithm',
      'ValueError',
      'hash.compute_hmac(text.encode("k"), text.encode("a"), "SHA3")',
    ],
  ])('%s raises %s', async (_name, tag, expr) => expect(await raised(expr)).toEqual([tag]));
});

describe('http.request (stdlib/http/request)', () => {
  let server: Server;
  let base: string;
  const seen: { method?: string; type?: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method, type: req.headers['content-type'] });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const request = (method: string, body: string): string =>
    `- r:\n    call: http.request\n    args:\n      method: ${method}\n      url: ${base}/x\n      body: '\${${body}}'\n`;

  test('a body without a Content-Type header is sent as JSON with charset=utf-8', async () => {
    seen.length = 0;
    await succeed(request('POST', '{"a": 1}'));
    expect(seen).toEqual([{ method: 'POST', type: 'application/json; charset=utf-8' }]);
  });

  test('a bytes body without a Content-Type header is sent as application/octet-stream', async () => {
    seen.length = 0;
    await succeed(request('PUT', 'text.encode("a")'));
    expect(seen).toEqual([{ method: 'PUT', type: 'application/octet-stream' }]);
  });

  test('a method that is not one of GET HEAD POST PUT DELETE OPTIONS PATCH is refused before sending', async () => {
    seen.length = 0;
    await fail(request('PROPFIND', 'null'));
    expect(seen).toEqual([]);
  });
});

describe('sys.sleep_until (stdlib/sys/sleep_until)', () => {
  const sleepUntil = (time: string): string =>
    `- s:\n    call: sys.sleep_until\n    args:\n      time: ${time}\n`;

  test('suspends the execution until the given time, on the injected clock', async () => {
    const clock = virtualClock(1_700_000_000_000);
    await succeed(sleepUntil('"2023-11-14T22:14:20Z"'), null, { clock });
    expect(clock.sleeps).toEqual([60_000]);
  });

  test('a time more than one year ahead is refused without sleeping', async () => {
    const clock = virtualClock(1_700_000_000_000);
    await fail(sleepUntil('"2024-11-13T22:13:21Z"'), { clock });
    expect(clock.sleeps).toEqual([]);
  });

  test.each([
    ['a time that is not a string', 'TypeError', '1'],
    ['a time that is not ISO 8601', 'ValueError', '"tomorrow"'],
  ])('%s raises %s', async (_name, tag, time) => {
    expect((await fail(sleepUntil(time))).tags).toEqual([tag]);
  });
});

describe("reviewed against the pages' examples: unchanged behaviour", () => {
  test.each([
    [
      'map.merge',
      'map.merge({"key1": "hello", "key2": "world"}, {"key1": "good", "key2": "morning"})',
      { key1: 'good', key2: 'morning' },
    ],
    [
      'map.delete of a missing key returns a copy',
      'map.delete({"key1": "hello", "key2": "world"}, "key3")',
      { key1: 'hello', key2: 'world' },
    ],
    ['map.delete', 'map.delete({"key1": "hello", "key2": "world"}, "key2")', { key1: 'hello' }],
    ['list.concat', 'list.concat(["zero", "one", "two"], "three")', ['zero', 'one', 'two', 'three']],
    ['text.to_lower', 'text.to_lower("Hello World")', 'hello world'],
    ['math.floor', '[math.floor(23.67), math.floor(-23.67), math.floor(0)]', [23, -24, 0]],
    ['text.encode then base64', 'base64.encode(text.encode("Hello World", "UTF-8"))', 'SGVsbG8gV29ybGQ='],
    ['text.decode', 'text.decode(base64.decode("SGVsbG8gV29ybGQ="), "UTF-8")', 'Hello World'],
  ])('%s', async (_name, expr, expected) => expect(await value(expr)).toEqual(expected));

  test.each([
    ['map.merge of a non-map', 'map.merge({}, 1)'],
    ['map.delete with a non-string key', 'map.delete({}, 1)'],
    ['list.concat to a non-list', 'list.concat({}, 1)'],
    ['text.to_upper of a non-string', 'text.to_upper(1)'],
    ['math.floor of a non-number', 'math.floor("1")'],
  ])('%s raises TypeError', async (_name, expr) => expect(await raised(expr)).toEqual(['TypeError']));

  test.each([
    ['json.decode of invalid JSON', 'json.decode("{")'],
    ['text.decode with an unsupported charset', 'text.decode(text.encode("a"), "NO-SUCH-CHARSET")'],
  ])('%s raises ValueError', async (_name, expr) => expect(await raised(expr)).toEqual(['ValueError']));
});
