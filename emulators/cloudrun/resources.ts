/** Small helpers shared by the Cloud Run emulator's resource handlers. */
import { RpcError, Status } from './protos';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

interface ParsedName {
  project: string;
  location: string;
  /** The remaining `kind/id` pairs, e.g. { services: 'api', revisions: 'api-00001-abc' }. */
  ids: Record<string, string>;
}

/** Parses `projects/P/locations/L/<kind>/<id>[/<kind>/<id>]` with the kinds expected, or throws INVALID_ARGUMENT naming the field. */
export function parseName(name: unknown, kinds: string[], field: string): ParsedName {
  const parts = typeof name === 'string' ? name.split('/') : [];
  const ok =
    parts.length === 4 + kinds.length * 2 &&
    parts[0] === 'projects' &&
    parts[2] === 'locations' &&
    kinds.every((k, i) => parts[4 + i * 2] === k) &&
    parts.every((p) => p.length > 0);
  if (!ok) {
    const pattern = [
      'projects/<project>/locations/<location>',
      ...kinds.map((k) => `${k}/<${k.replace(/s$/, '')}>`),
    ].join('/');
    throw new RpcError(
      Status.INVALID_ARGUMENT,
      `${field}: ${JSON.stringify(name ?? '')} is not valid; expected ${pattern}`,
    );
  }
  const ids: Record<string, string> = {};
  kinds.forEach((k, i) => (ids[k] = parts[5 + i * 2]));
  return { project: parts[1], location: parts[3], ids };
}

/** The NOT_FOUND text of the real API. */
export function notFound(kind: string, id: string, location: string, project: string): RpcError {
  return new RpcError(
    Status.NOT_FOUND,
    `Resource '${id}' of kind '${kind}' in region '${location}' in project '${project}' does not exist.`,
  );
}

/**
 * A canonical form for comparing templates: keys sorted, proto3 defaults
 * (empty strings, zeros, false, empty lists and maps) dropped, so that a
 * template read and written back unchanged compares equal.
 */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(canonical);
    return items.length ? items : undefined;
  }
  if (Buffer.isBuffer(value)) return value.length ? value.toString('base64') : undefined;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = canonical((value as Json)[key]);
      if (v !== undefined) out[key] = v;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (value === '' || value === 0 || value === '0' || value === false || value === null) return undefined;
  return value;
}

export function sameContent(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** A condition in the v2 shape. */
export function condition(type: string, state: string, extra: Json = {}): Json {
  return { type, state, lastTransitionTime: timestamp(Date.now()), ...extra };
}
