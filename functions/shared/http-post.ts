/**
 * The bounded-retry JSON POST that the Slack webhook and PagerDuty notifiers
 * share: a notifier must never fail a rollout, so a delivery is tried at most
 * `attempts` times with exponential backoff, and its last error is returned
 * rather than thrown. Only 429 and 5xx (and network errors or timeouts) are
 * retried; any other 4xx means our request is wrong, so retrying cannot help.
 */
interface RetryPostOptions {
  attempts: number;
  timeoutMs: number;
  /** The wait before the second try; it doubles for each later one. */
  backoffMs: number;
  /** How many characters of an error response's body the error keeps (none by default). */
  errorBodyChars?: number;
}

/** `ok` true on a 2xx; otherwise the last attempt's error (`HTTP <status> [body]` or the network error). */
type RetryPostResult = { ok: true } | { ok: false; error: string };

/** `body` is called on every attempt, so a body that carries a timestamp is fresh each time. */
export async function postJsonWithRetry(
  url: string,
  body: () => unknown,
  opts: RetryPostOptions,
): Promise<RetryPostResult> {
  const { attempts, timeoutMs, backoffMs, errorBodyChars } = opts;
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body()),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.ok) return { ok: true };
      lastError = `HTTP ${res.status}`;
      if (errorBodyChars !== undefined) {
        lastError += ` ${(await res.text().catch(() => '')).slice(0, errorBodyChars)}`;
      }
      if (res.status < 500 && res.status !== 429) break; // our request is wrong; retrying won't help
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
  }
  return { ok: false, error: lastError };
}
