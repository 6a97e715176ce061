/** Waits for a Workflows execution to leave ACTIVE, through the real ExecutionsClient. */
import type { ExecutionsClient } from '@google-cloud/workflows';
import { waitFor } from '../../emulators/util';

export function executionEnded(client: ExecutionsClient, name: string, timeoutMs: number) {
  return waitFor(
    async () => {
      const [e] = await client.getExecution({ name });
      return e.state !== 'ACTIVE' && e;
    },
    { timeoutMs, what: `execution ${name} to finish` },
  );
}
