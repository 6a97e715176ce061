/**
 * The candidate's traffic tag. Cloud Run serves a tag at
 * `https://TAG---SERVICE-HASH-REGION.a.run.app`, whose first DNS label holds
 * both names: it refuses an update where they exceed 46 characters together
 * ("Combined traffic tag and service name cannot exceed 46 characters").
 */
export const MAX_TAG_AND_SERVICE = 46;
export const GLIDEPATH_TAG_PREFIX = 'gp-';
const MAX_TAG_HEX = 12;
/** Fewer hex characters of the digest would make two digests' tags too likely to meet. */
export const MIN_TAG_HEX = 6;
/** The longest service name whose candidate tag still fits. */
export const MAX_SERVICE_NAME_WITH_TAG = MAX_TAG_AND_SERVICE - GLIDEPATH_TAG_PREFIX.length - MIN_TAG_HEX;

/**
 * `gp-` and as many hex characters of the digest as fit next to `service`
 * (12 at most, `MIN_TAG_HEX` at least: the policy refuses longer names), so
 * each digest keeps its own tag.
 */
export function candidateTag(service: string, digest: string): string {
  const room = MAX_TAG_AND_SERVICE - service.length - GLIDEPATH_TAG_PREFIX.length;
  const hex = digest.replace(/^sha256:/, '').slice(0, Math.min(MAX_TAG_HEX, room));
  if (hex.length < MIN_TAG_HEX)
    throw new Error(
      `service ${service}: no candidate tag fits; names longer than ${MAX_SERVICE_NAME_WITH_TAG} characters are refused by the policy`,
    );
  return `${GLIDEPATH_TAG_PREFIX}${hex}`;
}
