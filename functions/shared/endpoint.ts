import type * as grpc from '@grpc/grpc-js';

/**
 * google-gax checks the universe domain before a client's first call. Unset, google-auth looks
 * for Application Default Credentials to read it from, and ends probing the GCE metadata server:
 * a MetadataLookupWarning on every machine that is not on GCE, for an emulator that needs no
 * credentials. Naming the universe explicitly skips the look-up.
 */
const LOCAL_UNIVERSE = { universeDomain: 'googleapis.com' };

/**
 * Client options that point a `@google-cloud/*` gRPC client at a local
 * endpoint (`host:port`), e.g. an emulator; undefined means "use Google's".
 */
export function localClientOptions(hostPort: string | undefined): {
  apiEndpoint?: string;
  port?: number;
  sslCreds?: grpc.ChannelCredentials;
  universeDomain?: string;
} {
  if (!hostPort) return {};
  // Loaded here, not at import: only local endpoints need it, and it costs a cold start ~50 ms.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { credentials } = require('@grpc/grpc-js') as typeof grpc;
  const i = hostPort.lastIndexOf(':');
  return {
    apiEndpoint: hostPort.slice(0, i),
    port: Number(hostPort.slice(i + 1)),
    sslCreds: credentials.createInsecure(),
    ...LOCAL_UNIVERSE,
  };
}

/** Firestore's options when `FIRESTORE_EMULATOR_HOST` points it at the emulator; none otherwise. */
export function firestoreEmulatorOptions(): { universeDomain?: string } {
  return process.env.FIRESTORE_EMULATOR_HOST ? LOCAL_UNIVERSE : {};
}

/**
 * Pub/Sub's options when `PUBSUB_EMULATOR_HOST` points it at the emulator; none otherwise. With a
 * universe domain Pub/Sub assumes Google's endpoint unless `emulatorMode` says otherwise.
 */
export function pubsubEmulatorOptions(): { universeDomain?: string; emulatorMode?: boolean } {
  return process.env.PUBSUB_EMULATOR_HOST ? { ...LOCAL_UNIVERSE, emulatorMode: true } : {};
}
