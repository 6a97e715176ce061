/**
 * Starts Google's Pub/Sub and Firestore emulators once for the whole run and
 * exports their hosts through the environment, which jest's workers inherit.
 * Without the emulators: a failure under CI=true, otherwise a loud skip of
 * the integration suites (see helpers/emulators.ts).
 */
import { startGoogleEmulators, EmulatorsMissingError, type GoogleEmulators } from '../emulators/google';

declare global {
  var __glidepathEmulators: GoogleEmulators | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.GLIDEPATH_SKIP_EMULATORS === '1') return;
  try {
    const emulators = await startGoogleEmulators();
    Object.assign(process.env, emulators.env);
    globalThis.__glidepathEmulators = emulators;
  } catch (err) {
    if (err instanceof EmulatorsMissingError && process.env.CI !== 'true') {
      process.stderr.write(`\n[glidepath] integration tests will be SKIPPED:\n${err.message}\n\n`);
      process.env.GLIDEPATH_EMULATORS_MISSING = err.message;
      return;
    }
    throw err;
  }
}
