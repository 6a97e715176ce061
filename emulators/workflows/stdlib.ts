/**
 * The standard library subset the emulator implements. Each function lists
 * its parameter names: positional in expressions, named in `call` steps.
 * Blocking functions (HTTP, sleep, callbacks) are only allowed in `call` steps,
 * as on Google, which also keeps expression evaluation synchronous.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { Raised, wfError } from './errors';
import { httpBilling, httpRequest } from './http';
import { compileRe2, regexMatches } from './re2';
import { type Runtime, workflowSleep } from './runtime';
import {
  Bytes,
  Double,
  type Value,
  type ValueMap,
  decodeJson,
  encodeJson,
  formatDouble,
  isMap,
  isNumber,
  numeric,
  typeName,
} from './values';

interface FunctionSpec {
  params: readonly string[];
  /** How many leading params are required. */
  required: number;
  blocking?: boolean;
  /** Billing class of a call; internal unless said otherwise. */
  billing?: (args: Value[]) => 'internal' | 'external';
  run(args: Value[], rt: Runtime): Value | Promise<Value>;
}

const fn = (params: string[], required: number, run: FunctionSpec['run']): FunctionSpec => ({
  params,
  required,
  run,
});

function expect<T extends Value>(
  name: string,
  param: string,
  v: Value,
  ok: (v: Value) => v is T,
  what: string,
): T {
  if (!ok(v)) throw wfError('TypeError', `${name}: argument "${param}" must be ${what}, got ${typeName(v)}`);
  return v;
}
const isString = (v: Value): v is string => typeof v === 'string';
const isList = (v: Value): v is Value[] => Array.isArray(v);
const isInteger = (v: Value): v is number => typeof v === 'number';
const isBytes = (v: Value): v is Bytes => v instanceof Bytes;
const isNum = (v: Value): v is number | Double => isNumber(v);
const isBoolean = (v: Value): v is boolean => typeof v === 'boolean';
const given = (v: Value | undefined): v is Value => v !== null && v !== undefined;

function toStringValue(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Double) return formatDouble(v.value);
  throw wfError('TypeError', `string: cannot convert a ${typeName(v)} to a string`);
}

function mathPair(name: string, pick: (a: number, b: number) => boolean): FunctionSpec {
  return fn(['x', 'y'], 2, ([x, y]) => {
    const a = expect(name, 'x', x, isNum, 'a number');
    const b = expect(name, 'y', y, isNum, 'a number');
    return pick(numeric(a), numeric(b)) ? a : b;
  });
}

function retryPredicate(codes: number[], tags: string[]): FunctionSpec {
  return fn(['exception'], 1, ([e]) => {
    if (!isMap(e)) return false;
    if (typeof e.code === 'number' && codes.includes(e.code)) return true;
    return Array.isArray(e.tags) && e.tags.some((t) => typeof t === 'string' && tags.includes(t));
  });
}

function httpFunction(method: string | undefined, withBody: boolean): FunctionSpec {
  const params = [
    ...(method ? [] : ['method']),
    'url',
    'headers',
    ...(withBody ? ['body'] : []),
    'query',
    'timeout',
    'auth',
  ];
  const at = (args: Value[], p: string): Value => args[params.indexOf(p)] ?? null;
  return {
    params,
    required: method ? 1 : 2,
    blocking: true,
    billing: (args) => {
      const url = at(args, 'url');
      return typeof url === 'string' ? httpBilling(url) : 'external';
    },
    run: (args, rt) => {
      const m = method ?? at(args, 'method');
      if (typeof m !== 'string')
        throw wfError('TypeError', `http.request: method must be a string, got ${typeName(m)}`);
      // "One of: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH" (stdlib/http/request); Google is silent on
      // other spellings, so the stricter reading refuses them, lower case included.
      if (!HTTP_METHODS.has(m))
        throw wfError(
          'ValueError',
          `http.request: method must be one of ${[...HTTP_METHODS].join(', ')}, got "${m}"`,
        );
      return httpRequest(
        {
          method: m,
          url: at(args, 'url'),
          headers: at(args, 'headers'),
          body: at(args, 'body'),
          query: at(args, 'query'),
          timeout: at(args, 'timeout'),
          auth: at(args, 'auth'),
        },
        rt,
      );
    },
  };
}

/**
 * An RFC 3339 section 5.6 timestamp "with up to a microsecond precision" as seconds since the epoch
 * (stdlib/time/parse; sys.sleep_until says ISO 8601, and the stricter reading takes the same subset).
 */
function parseTimestamp(fnName: string, param: string, v: Value): number {
  const text = expect(fnName, param, v, isString, 'a string');
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  const ms = m ? Date.parse(m[1] + m[3]) : NaN;
  if (!m || Number.isNaN(ms))
    throw wfError(
      'ValueError',
      `${fnName}: "${text}" is not an RFC 3339 timestamp with at most microsecond precision`,
    );
  return ms / 1000 + (m[2] ? Number(`0.${m[2]}`) : 0);
}

/** Seconds since the epoch as RFC 3339, UTC (time.format's default). */
function formatTime(seconds: number): string {
  return new Date(seconds * 1000)
    .toISOString()
    .replace(/\.(\d{3})Z$/, (_m, ms: string) => (ms === '000' ? 'Z' : `.${ms}000Z`));
}

export const STDLIB: Record<string, FunctionSpec> = {
  default: fn(['value', 'default_value'], 2, ([v, d]) => (v === null ? d : v)),
  len: fn(['value'], 1, ([v]) => {
    if (typeof v === 'string') return [...v].length;
    if (Array.isArray(v)) return v.length;
    if (v instanceof Bytes) return v.data.length;
    if (isMap(v)) return Object.keys(v).length;
    throw wfError('TypeError', `len: argument must be a string, bytes, list or map, got ${typeName(v)}`);
  }),
  keys: fn(['map'], 1, ([m]) => Object.keys(expect('keys', 'map', m, isMap, 'a map'))),
  int: fn(['value'], 1, ([v]) => {
    if (typeof v === 'number') return v;
    if (v instanceof Double) return Math.trunc(v.value);
    if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
    if (typeof v === 'string') throw wfError('ValueError', `int: cannot parse "${v}" as an integer`);
    throw wfError('TypeError', `int: cannot convert a ${typeName(v)} to an integer`);
  }),
  double: fn(['value'], 1, ([v]) => {
    if (isNumber(v)) return new Double(numeric(v));
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return new Double(Number(v));
    if (typeof v === 'string') throw wfError('ValueError', `double: cannot parse "${v}" as a double`);
    throw wfError('TypeError', `double: cannot convert a ${typeName(v)} to a double`);
  }),
  string: fn(['value'], 1, ([v]) => toStringValue(v)),

  // "If map is not a map, returns null" (stdlib/map/get).
  'map.get': fn(['map', 'keys'], 2, ([m, k]) => {
    const path = Array.isArray(k) ? k : [k];
    let cur: Value = m;
    for (const key of path) {
      if (typeof key !== 'string')
        throw wfError('TypeError', `map.get: keys must be strings, got ${typeName(key)}`);
      if (!isMap(cur) || !Object.hasOwn(cur, key)) return null;
      cur = cur[key];
    }
    return cur;
  }),
  'map.merge': fn(['first', 'second'], 2, ([a, b]) => ({
    ...expect('map.merge', 'first', a, isMap, 'a map'),
    ...expect('map.merge', 'second', b, isMap, 'a map'),
  })),
  // Recursive for keys whose values are maps in both (stdlib/map/merge_nested).
  'map.merge_nested': fn(['first', 'second'], 2, ([a, b]) =>
    mergeNested(
      expect('map.merge_nested', 'first', a, isMap, 'a map'),
      expect('map.merge_nested', 'second', b, isMap, 'a map'),
    ),
  ),
  'map.delete': fn(['map', 'key'], 2, ([m, k]) => {
    const out: ValueMap = { ...expect('map.delete', 'map', m, isMap, 'a map') };
    delete out[expect('map.delete', 'key', k, isString, 'a string')];
    return out;
  }),
  'list.concat': fn(['objs', 'val'], 2, ([l, v]) => [
    ...expect('list.concat', 'objs', l, isList, 'a list'),
    v,
  ]),
  'list.prepend': fn(['objs', 'val'], 2, ([l, v]) => [
    v,
    ...expect('list.prepend', 'objs', l, isList, 'a list'),
  ]),

  // Leftmost, non-overlapping, empty substrings kept; an empty separator is a ValueError (stdlib/text/split).
  'text.split': fn(['source', 'separator'], 2, ([s, sep]) => {
    const source = expect('text.split', 'source', s, isString, 'a string');
    const separator = expect('text.split', 'separator', sep, isString, 'a string');
    if (separator === '') throw wfError('ValueError', 'text.split: separator must not be an empty string');
    return source.split(separator);
  }),
  'text.replace_all': fn(['source', 'substr', 'repl'], 3, ([s, sub, r]) => {
    const source = expect('text.replace_all', 'source', s, isString, 'a string');
    const needle = expect('text.replace_all', 'substr', sub, isString, 'a string');
    const repl = expect('text.replace_all', 'repl', r, isString, 'a string');
    // An empty substr matches at the start and after each code point: k+1 replacements.
    if (needle === '') return repl + [...source].map((c) => c + repl).join('');
    return source.split(needle).join(repl);
  }),
  'text.find_all': fn(['source', 'substr'], 2, ([s, sub]) => {
    const source = expect('text.find_all', 'source', s, isString, 'a string');
    const needle = expect('text.find_all', 'substr', sub, isString, 'a string');
    // Google does not say what an empty substr finds; the stricter reading refuses it.
    if (needle === '') throw wfError('ValueError', 'text.find_all: substr must not be empty');
    // A sorted list of code-point indexes of non-overlapping matches (stdlib/text/find_all).
    const literal = new RegExp(needle.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu');
    return regexMatches(literal, source).map((m) => m.index);
  }),
  'text.match_regex': fn(['source', 'regexp'], 2, ([s, r]) =>
    compileRe2('text.match_regex', expect('text.match_regex', 'regexp', r, isString, 'a string')).test(
      expect('text.match_regex', 'source', s, isString, 'a string'),
    ),
  ),
  'text.find_all_regex': fn(['source', 'regexp'], 2, ([s, r]) => {
    const source = expect('text.find_all_regex', 'source', s, isString, 'a string');
    const re = compileRe2(
      'text.find_all_regex',
      expect('text.find_all_regex', 'regexp', r, isString, 'a string'),
    );
    return regexMatches(re, source);
  }),
  'text.replace_all_regex': fn(['source', 'regexp', 'repl'], 3, ([s, r, p]) => {
    const source = expect('text.replace_all_regex', 'source', s, isString, 'a string');
    const re = compileRe2(
      'text.replace_all_regex',
      expect('text.replace_all_regex', 'regexp', r, isString, 'a string'),
    );
    const repl = expect('text.replace_all_regex', 'repl', p, isString, 'a string');
    // repl is literal: backreferences are not supported (stdlib/text/replace_all_regex).
    return source.replace(re, () => repl);
  }),
  'text.substring': fn(['source', 'start', 'end'], 3, ([s, a, b]) => {
    const chars = [...expect('text.substring', 'source', s, isString, 'a string')];
    // A negative index is an offset from the end; both are clamped to the string.
    const clamp = (n: number): number => Math.max(0, Math.min(chars.length, n < 0 ? chars.length + n : n));
    return chars
      .slice(
        clamp(expect('text.substring', 'start', a, isInteger, 'an integer')),
        clamp(expect('text.substring', 'end', b, isInteger, 'an integer')),
      )
      .join('');
  }),
  'text.url_encode': fn(['source'], 1, ([s]) =>
    urlEncode(expect('text.url_encode', 'source', s, isString, 'a string')),
  ),
  // Letters, digits and .-_ kept, spaces as +, the rest %XX of its UTF-8 bytes (stdlib/text/url_encode_plus).
  'text.url_encode_plus': fn(['source'], 1, ([s]) =>
    [...Buffer.from(expect('text.url_encode_plus', 'source', s, isString, 'a string'), 'utf8')]
      .map((b) => {
        const c = String.fromCharCode(b);
        if (/[A-Za-z0-9._-]/.test(c)) return c;
        return c === ' ' ? '+' : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
      })
      .join(''),
  ),
  // + is a space, %xx a byte, the bytes read as UTF-8; a % without two hex digits is a ValueError (stdlib/text/url_decode).
  'text.url_decode': fn(['source'], 1, ([s]) => {
    const source = expect('text.url_decode', 'source', s, isString, 'a string');
    if (/%(?![0-9A-Fa-f]{2})/.test(source))
      throw wfError(
        'ValueError',
        `text.url_decode: "${source}" has a % not followed by two hexadecimal digits`,
      );
    const bytes = source
      .split(/(%[0-9A-Fa-f]{2})/)
      .map((part) =>
        part.startsWith('%')
          ? Buffer.from([parseInt(part.slice(1), 16)])
          : Buffer.from(part.replaceAll('+', ' '), 'utf8'),
      );
    return Buffer.concat(bytes).toString('utf8');
  }),
  'text.to_lower': fn(['source'], 1, ([s]) =>
    expect('text.to_lower', 'source', s, isString, 'a string').toLowerCase(),
  ),
  'text.to_upper': fn(['source'], 1, ([s]) =>
    expect('text.to_upper', 'source', s, isString, 'a string').toUpperCase(),
  ),
  'text.encode': fn(['text', 'charset'], 1, ([s, cs]) => {
    if (cs !== null && cs !== undefined && String(cs).toUpperCase() !== 'UTF-8')
      throw wfError('ValueError', `text.encode: only charset "UTF-8" is implemented, got ${encodeJson(cs)}`);
    return new Bytes(Buffer.from(expect('text.encode', 'text', s, isString, 'a string'), 'utf8'));
  }),
  'text.decode': fn(['data', 'charset'], 1, ([d, cs]) => {
    if (cs !== null && cs !== undefined && String(cs).toUpperCase() !== 'UTF-8')
      throw wfError('ValueError', `text.decode: only charset "UTF-8" is implemented, got ${encodeJson(cs)}`);
    return expect('text.decode', 'data', d, isBytes, 'bytes').data.toString('utf8');
  }),

  'json.decode': fn(['data'], 1, ([d]) => {
    const text =
      d instanceof Bytes
        ? d.data.toString('utf8')
        : expect('json.decode', 'data', d, isString, 'bytes or a string');
    try {
      return decodeJson(text);
    } catch (err) {
      throw wfError('ValueError', `json.decode: ${(err as Error).message}`);
    }
  }),
  'json.encode': fn(
    ['data', 'indent'],
    1,
    ([d, i]) => new Bytes(Buffer.from(encodeJsonValue(d, jsonIndent('json.encode', i)), 'utf8')),
  ),
  'json.encode_to_string': fn(['data', 'indent'], 1, ([d, i]) =>
    encodeJsonValue(d, jsonIndent('json.encode_to_string', i)),
  ),
  'base64.encode': fn(['data', 'padding'], 1, ([d, pad]) => {
    const out = expect('base64.encode', 'data', d, isBytes, 'bytes').data.toString('base64');
    return base64Padding('base64.encode', pad) ? out : out.replace(/=+$/, '');
  }),
  // \r and \n are ignored; with padding (the default) the input must be a multiple of 4 (stdlib/base64/decode).
  'base64.decode': fn(['data', 'padding'], 1, ([d, pad]) => {
    const s = expect('base64.decode', 'data', d, isString, 'a string').replace(/[\r\n]/g, '');
    const padded = base64Padding('base64.decode', pad);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s))
      throw wfError('ValueError', 'base64.decode: data has characters outside the Base64 alphabet');
    if (padded && s.length % 4 !== 0)
      throw wfError(
        'ValueError',
        `base64.decode: data is not padded to a multiple of 4 characters (${s.length})`,
      );
    // Google is silent on "=" when padding is false, and on impossible lengths: the stricter reading refuses both.
    if (!padded && (s.includes('=') || s.length % 4 === 1))
      throw wfError('ValueError', 'base64.decode: with padding false, data must be unpadded Base64');
    return new Bytes(Buffer.from(s, 'base64'));
  }),

  'hash.compute_checksum': fn(['data', 'algorithm'], 2, ([d, a]) => {
    const data = expect('hash.compute_checksum', 'data', d, isBytes, 'bytes');
    const name = hashAlgorithm('hash.compute_checksum', a);
    return new Bytes(createHash(name).update(data.data).digest());
  }),
  'hash.compute_hmac': fn(['key', 'data', 'algorithm'], 3, ([k, d, a]) => {
    const key = expect('hash.compute_hmac', 'key', k, isBytes, 'bytes');
    const data = expect('hash.compute_hmac', 'data', d, isBytes, 'bytes');
    const name = hashAlgorithm('hash.compute_hmac', a);
    return new Bytes(createHmac(name, key.data).update(data.data).digest());
  }),

  'sys.now': fn([], 0, (_a, rt) => new Double(rt.clock.now() / 1000)),
  'sys.get_env': fn(['name', 'default'], 1, ([n, d], rt) => {
    const name = expect('sys.get_env', 'name', n, isString, 'a string');
    return Object.hasOwn(rt.env, name) ? rt.env[name] : (d ?? null);
  }),
  // Blocking: the stdlib overview names sys.log among the calls an expression cannot make.
  'sys.log': {
    params: ['data', 'severity', 'text', 'json', 'timeout'],
    required: 0,
    blocking: true,
    run: ([data, severity, text, json, timeout], rt) => {
      const payloads = Object.entries({ data, text, json }).filter(([, v]) => given(v));
      if (payloads.length !== 1)
        throw wfError(
          'TypeError',
          `sys.log: exactly one of data, text or json must be given, got ${payloads.map(([k]) => k).join(' and ') || 'none'}`,
        );
      const [name, payload] = payloads[0] as [string, Value];
      if (name === 'json') expect('sys.log', 'json', payload, isMap, 'a map');
      if (payload instanceof Bytes)
        throw wfError(
          'TypeError',
          `sys.log: ${name} must be an integer, float, bool, string, list or map, got bytes`,
        );
      const sev = given(severity) ? expect('sys.log', 'severity', severity, isString, 'a string') : 'DEFAULT';
      // Google lists the severities but no error for another one: the stricter reading refuses it.
      if (!LOG_SEVERITIES.has(sev))
        throw wfError(
          'ValueError',
          `sys.log: severity must be one of ${[...LOG_SEVERITIES].join(', ')}, got "${sev}"`,
        );
      if (given(timeout)) expect('sys.log', 'timeout', timeout, isNum, 'a number of seconds');
      rt.logger.log(
        LOGGER_SEVERITY[sev] ?? (sev as 'INFO'),
        typeof payload === 'string' ? payload : encodeJsonValue(payload),
        { workflowExecution: rt.executionId },
      );
      return null;
    },
  },
  'sys.sleep': {
    params: ['seconds'],
    required: 1,
    blocking: true,
    run: async ([s], rt) => {
      const seconds = numeric(expect('sys.sleep', 'seconds', s, isNum, 'a number'));
      if (seconds < 0 || seconds > MAX_SLEEP_SECONDS)
        throw wfError(
          'ValueError',
          `sys.sleep: seconds must be between 0 and ${MAX_SLEEP_SECONDS} (one year), got ${seconds}`,
        );
      await workflowSleep(rt, seconds);
      return null;
    },
  },
  // Suspends until `time`, at most one year ahead (stdlib/sys/sleep_until); a past time does not wait.
  'sys.sleep_until': {
    params: ['time'],
    required: 1,
    blocking: true,
    run: async ([t], rt) => {
      const seconds = parseTimestamp('sys.sleep_until', 'time', t) - rt.clock.now() / 1000;
      if (seconds > MAX_SLEEP_SECONDS)
        throw wfError(
          'ValueError',
          `sys.sleep_until: time must be at most one year from now, got "${String(t)}"`,
        );
      if (seconds > 0) await workflowSleep(rt, seconds);
      return null;
    },
  },
  'time.format': fn(['seconds', 'timezone'], 1, ([s, tz]) => {
    if (tz !== null && tz !== undefined && tz !== 'UTC' && tz !== 'Etc/UTC')
      throw wfError('ValueError', `time.format: only timezone "UTC" is implemented, got ${encodeJson(tz)}`);
    return formatTime(numeric(expect('time.format', 'seconds', s, isNum, 'a number')));
  }),
  'time.parse': fn(['value'], 1, ([v]) => new Double(parseTimestamp('time.parse', 'value', v))),
  'uuid.generate': fn([], 0, () => randomUUID()),
  'math.abs': fn(['x'], 1, ([x]) => {
    const n = expect('math.abs', 'x', x, isNum, 'a number');
    return typeof n === 'number' ? Math.abs(n) : new Double(Math.abs(n.value));
  }),
  'math.max': mathPair('math.max', (a, b) => a >= b),
  'math.min': mathPair('math.min', (a, b) => a <= b),
  'math.floor': fn(['x'], 1, ([x]) => Math.floor(numeric(expect('math.floor', 'x', x, isNum, 'a number')))),

  'http.get': httpFunction('GET', false),
  'http.delete': httpFunction('DELETE', true),
  'http.post': httpFunction('POST', true),
  'http.put': httpFunction('PUT', true),
  'http.patch': httpFunction('PATCH', true),
  'http.request': httpFunction(undefined, true),
  'http.default_retry_predicate': retryPredicate(
    [429, 502, 503, 504],
    ['ConnectionError', 'ConnectionFailedError', 'TimeoutError'],
  ),
  'http.default_retry_predicate_non_idempotent': retryPredicate([429, 503], ['ConnectionFailedError']),
  'retry.always': fn(['exception'], 1, () => true),
  'retry.never': fn(['exception'], 1, () => false),

  'events.create_callback_endpoint': fn(['http_callback_method'], 0, ([m], rt) => {
    if (!rt.callbacks)
      throw wfError(
        'SystemError',
        'events.create_callback_endpoint: callbacks need the emulator server (startWorkflowsEmulator)',
      );
    const method =
      m === null || m === undefined
        ? 'POST'
        : expect('events.create_callback_endpoint', 'http_callback_method', m, isString, 'a string');
    // The methods the callbacks page lists (docs/workflows-emulator.md, "Callbacks").
    if (!CALLBACK_METHODS.has(method))
      throw wfError(
        'ValueError',
        `events.create_callback_endpoint: http_callback_method must be one of ${[...CALLBACK_METHODS].join(', ')}, got "${method}"`,
      );
    const env = (k: string, local: string): string => rt.env[k] ?? local;
    const execution = `projects/${env('GOOGLE_CLOUD_PROJECT_ID', 'local')}/locations/${env('GOOGLE_CLOUD_LOCATION', 'local')}/workflows/${env('GOOGLE_CLOUD_WORKFLOW_ID', 'local')}/executions/${rt.executionId}`;
    return { url: rt.callbacks.create(execution, method).url };
  }),
  'events.await_callback': {
    params: ['callback', 'timeout'],
    required: 1,
    blocking: true,
    billing: () => 'external',
    run: async ([cb, t], rt) => {
      const callback = expect('events.await_callback', 'callback', cb, isMap, 'a map');
      const url = expect('events.await_callback', 'callback.url', callback.url ?? null, isString, 'a string');
      const seconds =
        t === null || t === undefined
          ? 43200
          : numeric(expect('events.await_callback', 'timeout', t, isNum, 'a number'));
      if (!rt.callbacks)
        throw wfError('SystemError', 'events.await_callback: callbacks need the emulator server');
      const timeout = new AbortController();
      const both = AbortSignal.any([rt.signal, timeout.signal]);
      const timer = rt.clock.sleep((seconds * 1000) / rt.sleepScale, both).then(
        () => timeout.abort(),
        () => undefined,
      );
      try {
        const req = await rt.callbacks.next(url, both);
        return {
          http_request: {
            body: req.body as Value,
            headers: req.headers,
            method: req.method,
            query: req.query,
            url: req.url,
          },
          received_time: req.receivedTime,
          type: 'HTTP',
        };
      } catch (err) {
        if (rt.signal.aborted) throw rt.signal.reason;
        if (timeout.signal.aborted)
          throw wfError('TimeoutError', `events.await_callback: no callback received within ${seconds} s`);
        throw err;
      } finally {
        timeout.abort();
        await timer;
      }
    },
  },
};

/** hash.compute_checksum's and compute_hmac's algorithms (stdlib/hash/*) and node:crypto's names for them. */
const HASH_ALGORITHMS: Record<string, string> = {
  MD5: 'md5',
  SHA1: 'sha1',
  SHA224: 'sha224',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
};

/** The hash.* algorithm argument (TypeError if not a string, ValueError if unsupported) as node:crypto names it. */
function hashAlgorithm(fnName: string, a: Value): string {
  const algorithm = expect(fnName, 'algorithm', a, isString, 'a string');
  const name = HASH_ALGORITHMS[algorithm];
  if (!name)
    throw wfError(
      'ValueError',
      `${fnName}: algorithm must be one of ${Object.keys(HASH_ALGORITHMS).join(', ')}, got "${algorithm}"`,
    );
  return name;
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** sys.log's severities (stdlib/sys/log); the three our logger lacks map to their nearest. */
const LOG_SEVERITIES = new Set([
  'DEFAULT',
  'DEBUG',
  'INFO',
  'NOTICE',
  'WARNING',
  'ERROR',
  'CRITICAL',
  'ALERT',
  'EMERGENCY',
]);
const LOGGER_SEVERITY: Record<string, 'INFO' | 'CRITICAL'> = {
  DEFAULT: 'INFO',
  ALERT: 'CRITICAL',
  EMERGENCY: 'CRITICAL',
};

/** base64's `padding`: a boolean, true by default (stdlib/base64/encode, decode). */
function base64Padding(name: string, pad: Value | undefined): boolean {
  return given(pad) ? expect(name, 'padding', pad, isBoolean, 'a boolean') : true;
}

function mergeNested(a: ValueMap, b: ValueMap): ValueMap {
  const out: ValueMap = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const mine = out[k];
    out[k] = isMap(mine) && isMap(v) ? mergeNested(mine, v) : v;
  }
  return out;
}

const CALLBACK_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** sys.sleep's documented maximum (stdlib/sys/sleep). */
const MAX_SLEEP_SECONDS = 31_536_000;

/** json.encode's `indent`: true, false, null or {prefix, indent} (stdlib/json/encode). */
function jsonIndent(name: string, i: Value): { prefix: string; indent: string } | undefined {
  if (i === null || i === undefined || i === false) return undefined;
  if (i === true) return { prefix: '', indent: '    ' };
  const m = expect(name, 'indent', i, isMap, 'a boolean or a map {prefix, indent}');
  for (const k of Object.keys(m))
    if (k !== 'prefix' && k !== 'indent')
      throw wfError('ValueError', `${name}: indent has no attribute "${k}"; expected prefix and indent`);
  const str = (k: 'prefix' | 'indent', dflt: string): string =>
    m[k] === undefined || m[k] === null ? dflt : expect(name, `indent.${k}`, m[k], isString, 'a string');
  return { prefix: str('prefix', ''), indent: str('indent', '    ') };
}

/**
 * Percent-encodes everything but RFC 3986 unreserved characters, UTF-8 first
 * (stdlib/text/url_encode; its example encodes spaces as %20).
 */
function urlEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function encodeJsonValue(v: Value, indent?: { prefix: string; indent: string }): string {
  try {
    return encodeJson(v, indent);
  } catch (err) {
    if (err instanceof Raised) throw err;
    throw wfError('TypeError', `json.encode: ${(err as Error).message}`);
  }
}

/** The predefined retry policies `${http.default_retry}` and `${http.default_retry_non_idempotent}`. */
export const DEFAULT_RETRY_POLICIES: Record<
  string,
  { predicate: string; maxRetries: number; initialDelay: number; maxDelay: number; multiplier: number }
> = {
  'http.default_retry': {
    predicate: 'http.default_retry_predicate',
    maxRetries: 5,
    initialDelay: 1,
    maxDelay: 60,
    multiplier: 1.25,
  },
  'http.default_retry_non_idempotent': {
    predicate: 'http.default_retry_predicate_non_idempotent',
    maxRetries: 5,
    initialDelay: 1,
    maxDelay: 60,
    multiplier: 1.25,
  },
};
