/**
 * `npm run workflows-emulator -- [--dir DIR] [--port N] [--env WORKFLOW:KEY=VALUE ...]
 *   [--service-account EMAIL] [--oidc-secret S] [--sleep-scale N]`:
 * the Workflows emulator on its own (no other part of Glidepath): the
 * Executions gRPC API for every `<name>.workflows.yaml` in DIR, until Ctrl-C.
 * Point the real client at it with `apiEndpoint`/`port` and insecure credentials.
 */
import { resolve } from 'node:path';
import { startWorkflowsEmulator } from '../emulators/workflows';

function options(argv: string[]): Parameters<typeof startWorkflowsEmulator>[0] {
  const env: Record<string, Record<string, string>> = {};
  const out: NonNullable<Parameters<typeof startWorkflowsEmulator>[0]> = { env };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag}: expected a value`);
    if (flag === '--dir') out.workflowsDir = resolve(value);
    else if (flag === '--port') out.port = Number(value);
    else if (flag === '--service-account') out.serviceAccount = value;
    else if (flag === '--oidc-secret') out.oidcSecret = value;
    else if (flag === '--sleep-scale') out.sleepScale = Number(value);
    else if (flag === '--env') {
      const m = /^([^:=]+):([^=]+)=(.*)$/s.exec(value);
      if (!m) throw new Error(`--env: expected WORKFLOW:KEY=VALUE, got ${JSON.stringify(value)}`);
      (env[m[1]] ??= {})[m[2]] = m[3];
    } else throw new Error(`unknown option ${flag}`);
  }
  for (const [flag, n] of [
    ['--port', out.port],
    ['--sleep-scale', out.sleepScale],
  ] as const)
    if (n !== undefined && !(Number.isFinite(n) && n > 0))
      throw new Error(`${flag}: expected a positive number, got ${n}`);
  return out;
}

async function main(): Promise<void> {
  const emulator = await startWorkflowsEmulator(options(process.argv.slice(2)));
  process.stdout.write(`Workflows emulator (Executions API, gRPC) on ${emulator.host}\n`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  await emulator.stop();
}

main().catch((err: Error) => {
  process.stderr.write(`workflows emulator: ${err.message}\n`);
  process.exit(2);
});
