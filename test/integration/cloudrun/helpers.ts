/** Shared set-up for the Cloud Run / Monitoring contract tests: an emulator and real clients pointed at it. */
import { ServicesClient, protos } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import {
  startCloudRunEmulator,
  type CloudRunEmulator,
  type CloudRunEmulatorOptions,
} from '../../../emulators/cloudrun';
import { localClientOptions } from '../../../functions/shared/endpoint';
import type { ServiceRef } from '../../../functions/ports';

export const PROJECT = 'test-project';
export const REGION = 'us-central1';

export interface Harness {
  emulator: CloudRunEmulator;
  clientOptions: Record<string, unknown>;
  services: ServicesClient;
  close(): Promise<void>;
}

export async function startHarness(options: CloudRunEmulatorOptions = {}): Promise<Harness> {
  const emulator = await startCloudRunEmulator({ readyDelayMs: 50, simulateLatency: false, ...options });
  const clientOptions = localClientOptions(emulator.grpcHost);
  const services = new ServicesClient(clientOptions as ClientOptions);
  return {
    emulator,
    clientOptions,
    services,
    close: async () => {
      await services.close();
      await emulator.stop();
    },
  };
}

export function ref(service: string): ServiceRef {
  return { project: PROJECT, region: REGION, service };
}

export function serviceName(service: string): string {
  return `projects/${PROJECT}/locations/${REGION}/services/${service}`;
}

/** Creates a service through the real client and waits until it is Ready. */
export async function createService(
  services: ServicesClient,
  service: string,
  extra: protos.google.cloud.run.v2.IService = {},
  image = 'us-docker.pkg.dev/test-project/apps/api:v1',
  template: protos.google.cloud.run.v2.IRevisionTemplate = {},
): Promise<protos.google.cloud.run.v2.IService> {
  const [operation] = await services.createService({
    parent: `projects/${PROJECT}/locations/${REGION}`,
    serviceId: service,
    // Public unless the test says otherwise: these suites are about routing and metrics; invoker.test.ts is about the invoker check.
    service: { template: { containers: [{ image }], ...template }, invokerIamDisabled: true, ...extra },
  });
  const [created] = await operation.promise();
  return created;
}

/** The gRPC error of a rejected call. */
export async function rpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; details?: string; message: string };
    return { code: e.code, details: e.details ?? e.message };
  }
  throw new Error('expected the call to fail');
}
