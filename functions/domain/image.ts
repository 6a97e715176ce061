/**
 * Container image references, parsed strictly per the OCI distribution spec.
 * Repository matching is by whole path segments, never by string prefix, so
 * `…/shop/checkout-evil` can never pass for `…/shop/checkout`.
 */
import { show } from './validation';

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
// A path component: lowercase alphanumerics joined by single separators; it
// can never be `.` or `..` and never contain `/`, `@`, `:` or whitespace.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface ImageRef {
  /** host/path, without tag or digest. */
  repository: string;
  tag?: string;
  digest?: string;
}

type ParseResult = { ok: true; ref: ImageRef } | { ok: false; error: string };

export function parseRepository(
  value: string,
): { ok: true; repository: string } | { ok: false; error: string } {
  const segments = value.split('/');
  if (segments.length < 2) return { ok: false, error: `expected host/path, got ${show(value, 200)}` };
  const [host, ...path] = segments;
  if (!HOST.test(host) || !host.includes('.'))
    return { ok: false, error: `invalid registry host ${show(host, 100)} in ${show(value, 200)}` };
  for (const c of path) {
    if (!COMPONENT.test(c))
      return { ok: false, error: `invalid path segment ${show(c, 100)} in ${show(value, 200)}` };
  }
  return { ok: true, repository: value };
}

/** Parses `host/path[:tag][@sha256:…]`. */
export function parseImageRef(value: string): ParseResult {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512)
    return {
      ok: false,
      error: `expected an image reference of 1-512 characters, got ${show(value, 200)}`,
    };
  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { ok: false, error: `invalid digest ${show(digest, 100)}; expected sha256:<64 hex>` };
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return { ok: false, error: `invalid tag ${show(tag, 140)}` };
  }
  const repo = parseRepository(rest);
  if (!repo.ok) return repo;
  return {
    ok: true,
    ref: { repository: repo.repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) },
  };
}

/**
 * The tags that name a manifest about another manifest, never a runnable image: sigstore/cosign's
 * `sha256-<hex>.sig`, `.att` and `.sbom`, and the OCI referrers tag schema's bare `sha256-<hex>`
 * (distribution-spec, "Referrers Tag Schema"). Artifact Registry publishes an INSERT for each of
 * them like for any other tagged manifest (docs/intake.md).
 */
const ARTIFACT_TAG = /^sha256-[a-f0-9]{64}(?:\.[A-Za-z0-9_-]+)*$/;

export function isArtifactTag(tag: string): boolean {
  return ARTIFACT_TAG.test(tag);
}

/** True when `image` is exactly the configured repository, compared segment by segment. */
export function sameRepository(image: string, configured: string): boolean {
  const a = image.split('/');
  const b = configured.split('/');
  return a.length === b.length && a.every((segment, i) => segment === b[i]);
}

/** The immutable reference a rollout deploys: repository@digest. */
export function pinnedImage(ref: { repository: string; digest: string }): string {
  return `${ref.repository}@${ref.digest}`;
}

/** The 12 hex characters used in revision tags and ids. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
