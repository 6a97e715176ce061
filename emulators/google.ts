/**
 * Starts Google's own Pub/Sub and Firestore emulators from the gcloud SDK.
 *
 * The Java launchers are started directly (not through `gcloud beta emulators`),
 * each in its own process group under a small bash watchdog. Stopping kills the
 * whole group; if this Node process dies without stopping them (a crashed test
 * run), the watchdog notices within a second and kills the group itself.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from './util';

export class EmulatorsMissingError extends Error {
  constructor(what: string) {
    super(
      `${what}\n` +
        "Glidepath runs its tests and demo on Google's Pub/Sub and Firestore emulators. Install them with:\n" +
        '  apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator openjdk-17-jre-headless\n' +
        '(or `gcloud components install pubsub-emulator cloud-firestore-emulator`), or set CLOUDSDK_ROOT to the SDK root.',
    );
    this.name = 'EmulatorsMissingError';
  }
}

interface Launchers {
  java: string;
  pubsubJar: string;
  firestoreJar: string;
}

function sdkRoot(): string | undefined {
  if (process.env.CLOUDSDK_ROOT) return process.env.CLOUDSDK_ROOT;
  try {
    const root = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
    }).trim();
    return root || undefined;
  } catch {
    return ['/usr/lib/google-cloud-sdk', '/usr/share/google-cloud-sdk', '/google-cloud-sdk'].find(existsSync);
  }
}

/** Finds Java and the two emulator jars, or throws a message that says what to install. */
function findLaunchers(): Launchers {
  const java = process.env.JAVA ?? 'java';
  try {
    execFileSync(java, ['-version'], { stdio: 'ignore', timeout: 30_000 });
  } catch {
    throw new EmulatorsMissingError(
      `Java was not found (tried \`${java} -version\`); the emulators need Java 17+.`,
    );
  }
  const root = sdkRoot();
  if (!root)
    throw new EmulatorsMissingError('The gcloud SDK was not found (no `gcloud` on PATH, no CLOUDSDK_ROOT).');
  const pubsubLib = join(root, 'platform/pubsub-emulator/lib');
  const pubsubJar = existsSync(pubsubLib)
    ? readdirSync(pubsubLib).find((f) => /^cloud-pubsub-emulator-.*\.jar$/.test(f))
    : undefined;
  if (!pubsubJar)
    throw new EmulatorsMissingError(`The Pub/Sub emulator is not installed under ${root}/platform.`);
  const firestoreJar = join(root, 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar');
  if (!existsSync(firestoreJar))
    throw new EmulatorsMissingError(`The Firestore emulator is not installed under ${root}/platform.`);
  return { java, pubsubJar: join(pubsubLib, pubsubJar), firestoreJar };
}

interface EmulatorProcess {
  name: string;
  host: string;
  /** The process group id; `kill(-pgid)` stops the emulator and its watchdog. */
  pgid: number;
  stop(): Promise<void>;
}

// The watchdog: run the emulator in the background, exit when either it or
// the Node parent is gone, and take the whole process group down with it.
const WATCHDOG = `parent=$1; shift
"$@" &
child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
kill -TERM -- -$$ 2>/dev/null`;

async function launch(name: string, args: string[], port: number): Promise<EmulatorProcess> {
  const host = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    'bash',
    ['-c', WATCHDOG, 'glidepath-emulator', String(process.pid), ...args],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.unref();
  (child.stderr as unknown as { unref?: () => void })?.unref?.();
  const pgid = child.pid!;
  const stop = async (): Promise<void> => {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    const gone = await Promise.race([
      exited.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!gone) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} emulator exited early: ${stderr}`);
        const res = await fetch(`http://${host}/`).catch(() => undefined);
        return res?.ok && (await res.text()).trim() === 'Ok';
      },
      { timeoutMs: 60_000, what: `${name} emulator on ${host}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, host, pgid, stop };
}

export interface GoogleEmulators {
  pubsub: EmulatorProcess;
  firestore: EmulatorProcess;
  /** PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST, ready to merge into process.env. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts both emulators on free loopback ports and waits until each answers `GET /` with `Ok`. */
export async function startGoogleEmulators(): Promise<GoogleEmulators> {
  const l = findLaunchers();
  const [pubsubPort, firestorePort] = [await freePort(), await freePort()];
  const [pubsub, firestore] = await Promise.all([
    launch('pubsub', [l.java, '-jar', l.pubsubJar, '--host=127.0.0.1', `--port=${pubsubPort}`], pubsubPort),
    launch(
      'firestore',
      [
        l.java,
        '-Duser.language=en',
        '-cp',
        l.firestoreJar,
        'com.google.cloud.datastore.emulator.firestore.CloudFirestore',
        'start',
        '--host=127.0.0.1',
        `--port=${firestorePort}`,
      ],
      firestorePort,
    ),
  ]);
  return {
    pubsub,
    firestore,
    env: { PUBSUB_EMULATOR_HOST: pubsub.host, FIRESTORE_EMULATOR_HOST: firestore.host },
    stop: async () => {
      await Promise.all([pubsub.stop(), firestore.stop()]);
    },
  };
}

/** Deletes every document of one project in the Firestore emulator. */
export async function resetFirestore(firestoreHost: string, projectId: string): Promise<void> {
  const res = await fetch(
    `http://${firestoreHost}/emulator/v1/projects/${projectId}/databases/(default)/documents`,
    { method: 'DELETE' },
  );
  if (!res.ok) throw new Error(`Firestore emulator reset failed: HTTP ${res.status}`);
}
