/**
 * Starts Google's Pub/Sub and Firestore emulators once for the whole run and
 * exports their hosts through the environment, which jest's workers inherit.
 * Without the emulators, or with GLIDEPATH_SKIP_EMULATORS=1: a failure under
 * CI=true, otherwise a loud skip of the integration suites (see
 * helpers/emulators.ts).
 */
import { startGoogleEmulators, EmulatorsMissingError, type GoogleEmulators } from '../emulators/google';

declare global {
  var __glidepathEmulators: GoogleEmulators | undefined;
}

export default async function globalSetup(): Promise<void> {
  const ci = process.env.CI === 'true';
  if (process.env.GLIDEPATH_SKIP_EMULATORS === '1') {
    // CI runs everything: no variable may turn the integration suites off there.
    if (ci)
      throw new Error('GLIDEPATH_SKIP_EMULATORS=1 under CI=true: CI runs every test; unset one of them');
    return;
  }
  try {
    const emulators = await startGoogleEmulators();
    Object.assign(process.env, emulators.env);
    globalThis.__glidepathEmulators = emulators;
  } catch (err) {
    if (err instanceof EmulatorsMissingError && !ci) {
      process.stderr.write(`\n[glidepath] integration tests will be SKIPPED:\n${err.message}\n\n`);
      process.env.GLIDEPATH_EMULATORS_MISSING = err.message;
      return;
    }
    throw err;
  }
}
