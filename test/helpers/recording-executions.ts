/* eslint-disable @typescript-eslint/no-explicit-any -- grpc-js handlers over a dynamically loaded proto are untyped */
/**
 * A local Workflows Executions gRPC endpoint that records what it was asked
 * and assigns execution names like the real service. Intake tests use it so
 * they check intake alone; the end-to-end tests use the real engine.
 */
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { executionLabelsProblem } from '../../emulators/workflows/labels';

interface RecordedExecution {
  parent: string;
  name: string;
  argument: unknown;
  labels: Record<string, string>;
  at: number;
}

export interface RecordingExecutions {
  host: string;
  created: RecordedExecution[];
  cancelled: string[];
  /** Makes the next N CreateExecution calls fail with UNAVAILABLE. */
  failNext(n: number): void;
  stop(): Promise<void>;
}

export async function startRecordingExecutions(): Promise<RecordingExecutions> {
  // Each package's entry point is build/src/index.js; its protos sit in build/protos.
  const protos = (pkg: string) => join(dirname(require.resolve(pkg)), '..', 'protos');
  const def = protoLoader.loadSync('google/cloud/workflows/executions/v1/executions.proto', {
    includeDirs: [protos('@google-cloud/workflows'), protos('google-gax')],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    google: {
      cloud: { workflows: { executions: { v1: { Executions: { service: grpc.ServiceDefinition } } } } };
    };
  };
  const created: RecordedExecution[] = [];
  const cancelled: string[] = [];
  let failures = 0;
  const server = new grpc.Server();
  server.addService(pkg.google.cloud.workflows.executions.v1.Executions.service, {
    createExecution: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      if (failures > 0) {
        failures--;
        return cb({ code: grpc.status.UNAVAILABLE, details: 'injected failure' });
      }
      const labelsProblem = executionLabelsProblem(call.request.execution.labels ?? {});
      if (labelsProblem) return cb({ code: grpc.status.INVALID_ARGUMENT, details: labelsProblem });
      const name = `${call.request.parent}/executions/${randomUUID()}`;
      created.push({
        parent: call.request.parent,
        name,
        argument: JSON.parse(call.request.execution.argument || 'null'),
        labels: call.request.execution.labels ?? {},
        at: Date.now(),
      });
      cb(null, {
        ...call.request.execution,
        name,
        state: 'ACTIVE',
        startTime: { seconds: Math.floor(Date.now() / 1000) },
      });
    },
    cancelExecution: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      cancelled.push(call.request.name);
      cb(null, { name: call.request.name, state: 'CANCELLED' });
    },
    getExecution: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      const e = created.find((x) => x.name === call.request.name);
      if (!e) return cb({ code: grpc.status.NOT_FOUND, details: `${call.request.name} not found` });
      cb(null, { name: e.name, state: cancelled.includes(e.name) ? 'CANCELLED' : 'ACTIVE' });
    },
    listExecutions: (_call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      cb(null, { executions: created.map((e) => ({ name: e.name, state: 'ACTIVE' })) });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    host: `127.0.0.1:${port}`,
    created,
    cancelled,
    failNext: (n) => {
      failures = n;
    },
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}
