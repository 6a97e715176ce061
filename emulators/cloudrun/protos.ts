/**
 * The real Cloud Run Admin v2, Cloud Monitoring v3 and google.longrunning
 * protos, loaded once from the `.proto` files that ship inside the
 * `@google-cloud/*` and `google-gax` packages, plus a tiny gRPC service
 * builder that (de)serialises with them. Both emulators share one Root so
 * that `google.protobuf.Any` payloads can be packed with the same types the
 * real clients decode.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protobuf from 'protobufjs';
import type {
  ServiceDefinition,
  UntypedServiceImplementation,
  sendUnaryData,
  ServerUnaryCall,
} from '@grpc/grpc-js';

// Each package's entry point is build/src/index.js; its protos sit in build/protos.
function packageProtos(pkg: string): string {
  return join(dirname(require.resolve(pkg)), '..', 'protos');
}

const INCLUDE_DIRS = [
  packageProtos('@google-cloud/run'),
  packageProtos('@google-cloud/monitoring'),
  packageProtos('google-gax'),
];

const FILES = [
  'google/cloud/run/v2/service.proto',
  'google/cloud/run/v2/revision.proto',
  'google/cloud/run/v2/job.proto',
  'google/cloud/run/v2/execution.proto',
  'google/longrunning/operations.proto',
  'google/monitoring/v3/metric_service.proto',
];

let root: protobuf.Root | undefined;

/** The shared Root, loaded on first use (never at import time). */
function protoRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    if (existsSync(target)) return target;
    for (const dir of INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  r.loadSync(FILES, { keepCase: false });
  r.resolveAll();
  root = r;
  return r;
}

/** Plain objects as the emulators handle them: camelCase fields, enums as names, int64 as strings. */
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  arrays: true,
  objects: true,
  oneofs: true,
};

function decodeMessage<T = Record<string, unknown>>(typeName: string, bytes: Uint8Array): T {
  const type = protoRoot().lookupType(typeName);
  return type.toObject(type.decode(bytes), TO_OBJECT) as T;
}

function encodeMessage(typeName: string, value: object): Buffer {
  const type = protoRoot().lookupType(typeName);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

/** A `google.protobuf.Any` holding `value` as message `typeName`. */
export function packAny(typeName: string, value: object): { typeUrl: string; value: Buffer } {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: encodeMessage(typeName, value) };
}

/** A gRPC status error as grpc-js servers report it. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const Status = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;

type UnaryHandler = (request: Record<string, unknown>) => object | Promise<object>;

/**
 * Builds a grpc-js service definition and implementation for `serviceName`
 * from the loaded protos. Methods without a handler answer UNIMPLEMENTED, as
 * a real server without that method would.
 */
export function grpcService(
  serviceName: string,
  handlers: Record<string, UnaryHandler>,
): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const service = protoRoot().lookupService(serviceName);
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const requestType = method.resolvedRequestType!.fullName.replace(/^\./, '');
    const responseType = method.resolvedResponseType!.fullName.replace(/^\./, '');
    definition[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: object) => encodeMessage(requestType, value),
      requestDeserialize: (bytes: Buffer) => decodeMessage(requestType, bytes),
      responseSerialize: (value: object) => encodeMessage(responseType, value),
      responseDeserialize: (bytes: Buffer) => decodeMessage(responseType, bytes),
    };
    const handler = handlers[method.name];
    implementation[method.name] = (
      call: ServerUnaryCall<Record<string, unknown>, object>,
      callback: sendUnaryData<object>,
    ) => {
      if (!handler) {
        callback({
          code: Status.UNIMPLEMENTED,
          details: `${serviceName}.${method.name} is not implemented by the emulator`,
        });
        return;
      }
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (response) => callback(null, response),
          (err: unknown) => {
            if (err instanceof RpcError) callback({ code: err.code, details: err.message });
            else
              callback({
                code: 13,
                details: `emulator internal error: ${err instanceof Error ? err.stack : String(err)}`,
              });
          },
        );
    };
  }
  return { definition, implementation };
}
