/** `http.*`: real requests with fetch; errors become Workflows' tagged error maps. */
import { wfError } from './errors';
import { mintOidcToken } from '../../functions/shared/oidc';
import type { Runtime } from './runtime';
import {
  Bytes,
  Double,
  type Value,
  type ValueMap,
  decodeJson,
  encodeJson,
  isMap,
  numeric,
  typeName,
} from './values';

const DEFAULT_TIMEOUT_S = 300;
const MAX_TIMEOUT_S = 1800;
/** Google's limit on an HTTP response body. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** Hostnames Google bills as internal steps (see the Workflows pricing page). */
const INTERNAL_HOST_SUFFIXES = [
  '.googleapis.com',
  '.cloud.goog',
  '.appspot.com',
  '.run.app',
  '.cloudfunctions.net',
];

/** Whether a request to `url` is an internal (Google Cloud) or external step for billing. */
export function httpBilling(
  url: string,
  extraInternalHosts: readonly string[] = [],
): 'internal' | 'external' {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return 'external';
  }
  if (extraInternalHosts.includes(host)) return 'internal';
  return INTERNAL_HOST_SUFFIXES.some((s) => host.endsWith(s)) ? 'internal' : 'external';
}

/** Socket errors after the connection was made: the request may have reached the server. */
const ESTABLISHED_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

interface HttpArgs {
  method: string;
  url: Value;
  headers: Value;
  body: Value;
  query: Value;
  timeout: Value;
  auth: Value;
}

function encodeBody(
  body: Value,
  headers: Record<string, string>,
): string | Uint8Array<ArrayBuffer> | undefined {
  if (body === null) return undefined;
  const type = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  // Without a Content-Type header, bytes go as application/octet-stream and anything else as
  // JSON with "application/json; charset=utf-8" (stdlib/http/request, body).
  if (body instanceof Bytes) {
    if (!type) headers['Content-Type'] = 'application/octet-stream';
    return new Uint8Array(body.data);
  }
  if (typeof body === 'string' && type && !type.includes('json')) return body;
  if (!type) headers['Content-Type'] = 'application/json; charset=utf-8';
  return encodeJson(body);
}

export async function httpRequest(a: HttpArgs, rt: Runtime): Promise<Value> {
  if (typeof a.url !== 'string')
    throw wfError('TypeError', `http: url must be a string, got ${typeName(a.url)}`);
  let url: URL;
  try {
    url = new URL(a.url);
  } catch {
    throw wfError('ValueError', `http: invalid url "${a.url}"`);
  }
  if (a.query !== null) {
    if (!isMap(a.query)) throw wfError('TypeError', `http: query must be a map, got ${typeName(a.query)}`);
    for (const [k, v] of Object.entries(a.query))
      for (const item of Array.isArray(v) ? v : [v])
        url.searchParams.append(k, typeof item === 'string' ? item : encodeJson(item));
  }
  const headers: Record<string, string> = {};
  if (a.headers !== null) {
    if (!isMap(a.headers))
      throw wfError('TypeError', `http: headers must be a map, got ${typeName(a.headers)}`);
    for (const [k, v] of Object.entries(a.headers)) headers[k] = typeof v === 'string' ? v : encodeJson(v);
  }
  if (a.auth !== null) {
    if (!isMap(a.auth) || (a.auth.type !== 'OIDC' && a.auth.type !== 'OAuth2'))
      throw wfError(
        'ValueError',
        `http: auth.type must be "OIDC" or "OAuth2", got ${encodeJson(isMap(a.auth) ? (a.auth.type ?? null) : a.auth)}`,
      );
    // Default audience: the `url` argument as written (the published schema: "the same value as url").
    const audience = typeof a.auth.audience === 'string' ? a.auth.audience : a.url;
    headers.Authorization = `Bearer ${mintOidcToken({ serviceAccount: rt.serviceAccount, audience, secret: rt.oidcSecret, nowMs: rt.clock.now() })}`;
  }
  const timeoutS =
    a.timeout === null
      ? DEFAULT_TIMEOUT_S
      : typeof a.timeout === 'number' || a.timeout instanceof Double
        ? numeric(a.timeout)
        : NaN;
  if (!(timeoutS > 0 && timeoutS <= MAX_TIMEOUT_S))
    throw wfError(
      'ValueError',
      `http: timeout must be a number of seconds in (0, ${MAX_TIMEOUT_S}], got ${encodeJson(a.timeout)}`,
    );
  const body = encodeBody(a.body, headers);

  const timeout = new AbortController();
  // Request timeouts are wall-clock: the remote server does not run on the virtual clock.
  const timer = setTimeout(() => timeout.abort(), timeoutS * 1000);
  const signal = AbortSignal.any([rt.signal, timeout.signal]);
  let response: Response;
  let raw: Buffer;
  try {
    response = await fetch(url, { method: a.method, headers, body, signal });
    raw = Buffer.from(await response.arrayBuffer());
  } catch (err) {
    if (rt.signal.aborted) throw rt.signal.reason;
    if (timeout.signal.aborted)
      throw wfError('TimeoutError', `http: request to ${url.origin} timed out after ${timeoutS} s`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    // A connection never established is ConnectionFailedError; one broken mid-transfer is ConnectionError (error-types).
    throw wfError(
      ESTABLISHED_CONNECTION_CODES.has(cause?.code ?? '') ? 'ConnectionError' : 'ConnectionFailedError',
      `http: connection to ${url.origin} failed: ${cause?.code ?? cause?.message ?? String(err)}`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (raw.length > MAX_RESPONSE_BYTES)
    throw wfError(
      'ResourceLimitError',
      `http: response of ${raw.length} bytes exceeds the ${MAX_RESPONSE_BYTES}-byte limit`,
    );
  const responseHeaders: ValueMap = {};
  response.headers.forEach((v, k) => (responseHeaders[k] = v));
  const type = response.headers.get('content-type') ?? '';
  let decoded: Value = new Bytes(raw);
  if (type.includes('json')) {
    try {
      decoded = raw.length ? decodeJson(raw.toString('utf8')) : null;
    } catch {
      decoded = raw.toString('utf8');
    }
  } else if (type.startsWith('text/') || raw.length === 0) decoded = raw.toString('utf8');
  const result: ValueMap = { body: decoded, code: response.status, headers: responseHeaders };
  if (response.status >= 400)
    throw wfError('HttpError', `HTTP server responded with error code ${response.status}`, result);
  return result;
}
