/**
 * Runs the `glidepath` CLI in-process, as an operator would, and returns what
 * it printed. The emulators and hosted functions of the same test process log
 * JSON lines (Cloud Logging's format) to the same stdout while the command
 * runs; those lines are not the CLI's output and are left out, or a command's
 * `--json` would not parse whenever a workflow logged meanwhile (seen in CI).
 */
import { main } from '../../cli/main';

const isLogLine = (line: string): boolean => line.startsWith('{"severity":');

export async function runCli(
  operator: string,
  args: string[],
): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  const stderr = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
  process.env.GLIDEPATH_OPERATOR = operator;
  // The exit code is process-wide: Jest sets it to 1 in a reused worker when a
  // previous file's leftover callback touches its torn-down environment (seen
  // in CI: `jobs status` "failed" with code 1 and no output). Read only what
  // this command sets, and hand back whatever was there before.
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await main(['node', 'glidepath', ...args]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const code = process.exitCode ?? 0;
  process.exitCode = before;
  const withoutLogs = (chunks: string[]) =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => !isLogLine(line))
      .join('\n');
  return { out: withoutLogs(out), err: withoutLogs(err), code: Number(code) };
}
