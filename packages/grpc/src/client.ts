import type { DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import {
  Client,
  credentials,
  Metadata,
  type CallOptions,
  type ClientReadableStream,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus, Health } from '@kantoor/proto/grpc/health/v1/health_pb';
import { setCallerMetadata, type Caller } from './caller';
import { fromGrpcError } from './error-mapping';
import { CHANNELZ_OFF } from './server';
import { grpcServiceDefinition } from './service-definition';
import { endCall, startClientSpan } from './tracing';
import { CLIENT_FLOW_CONTROL } from './flow-control';
// the client connections' calls and streams in collections that let finished calls die young
import './young-calls';

export interface CallOptionsKantoor {
  /** the identity the call is made for; required by every Kantoor RPC */
  caller: Caller;
  /** overrides the client's default deadline */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Cancels the call when the signal aborts, or at once when it already has (the caller has left already). */
function cancelOnAbort(signal: AbortSignal | undefined, call: { cancel(): void }): void {
  if (!signal) return;
  if (signal.aborted) call.cancel();
  else signal.addEventListener('abort', () => call.cancel(), { once: true });
}

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** messages of a client stream written but not yet taken by the connection */
const MESSAGES_IN_FLIGHT = 4;

type In<M extends DescMethod> = MessageInitShape<M['input']>;
type Out<M extends DescMethod> = MessageShape<M['output']>;

type ClientMethod<M extends DescMethod> = M['methodKind'] extends 'unary'
  ? (request: In<M>, options: CallOptionsKantoor) => Promise<Out<M>>
  : M['methodKind'] extends 'server_streaming'
    ? (request: In<M>, options: CallOptionsKantoor) => AsyncIterable<Out<M>>
    : M['methodKind'] extends 'client_streaming'
      ? (requests: AsyncIterable<In<M>>, options: CallOptionsKantoor) => Promise<Out<M>>
      : never;

export type ServiceClient<S extends DescService> = { [K in keyof S['method']]: ClientMethod<S['method'][K]> } & {
  close(): void;
  /** resolves when the server's health service answers SERVING for this service */
  waitUntilServing(timeoutMs: number): Promise<void>;
};

export interface ClientOptions {
  /** default deadline of a call */
  timeoutMs?: number;
}

/**
 * A typed client for a generated service: every call carries the caller as metadata and a deadline, and
 * every failure is the DomainError the server raised (or `unavailable` when the server cannot be reached).
 */
export function createServiceClient<S extends DescService>(
  service: S,
  address: string,
  options: ClientOptions = {},
): ServiceClient<S> {
  const ClientClass = makeClientConstructor(service);
  const client = new ClientClass(address, credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    // calls go round the addresses the name resolves to (a headless Service's pods) instead of all to the first;
    // a ClusterIP Service resolves to one address, where this is the same as grpc-js's pick_first
    'grpc.service_config': ROUND_ROBIN,
    // a wide HTTP/2 window: a streamed file does not wait a round trip per message (flow-control.ts)
    ...CLIENT_FLOW_CONTROL,
    ...CHANNELZ_OFF,
  });
  const defaultTimeout = options.timeoutMs ?? 10_000;
  const result: Record<string, unknown> = {};

  for (const method of service.methods) {
    const rpc = `${service.typeName}/${method.name}`;
    /** metadata (caller, trace context) and deadline of a call; its span ends with the call's status */
    const prepare = (callOptions: CallOptionsKantoor): [Metadata, CallOptions, (call: NodeJS.EventEmitter) => void] => {
      const metadata = new Metadata();
      setCallerMetadata(metadata, callOptions.caller);
      const traced = startClientSpan(rpc, metadata);
      const onStatus = (call: NodeJS.EventEmitter) =>
        call.once('status', (status: StatusObject) => endCall(traced, status.code, status.details));
      return [metadata, { deadline: Date.now() + (callOptions.timeoutMs ?? defaultTimeout) }, onStatus];
    };
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method.localName].bind(client);
    switch (method.methodKind) {
      case 'unary':
        result[method.localName] = (request: unknown, callOptions: CallOptionsKantoor) =>
          new Promise((resolve, reject) => {
            const [metadata, grpcOptions, traced] = prepare(callOptions);
            const call = fn(
              create(method.input, request as never),
              metadata,
              grpcOptions,
              (error: ServiceError | null, response: unknown) =>
                error ? reject(fromGrpcError(error)) : resolve(response),
            ) as NodeJS.EventEmitter & { cancel(): void };
            traced(call);
            cancelOnAbort(callOptions.signal, call);
          });
        break;
      case 'server_streaming':
        result[method.localName] = (request: unknown, callOptions: CallOptionsKantoor) => {
          const [metadata, grpcOptions, traced] = prepare(callOptions);
          const stream = fn(
            create(method.input, request as never),
            metadata,
            grpcOptions,
          ) as ClientReadableStream<unknown>;
          traced(stream);
          cancelOnAbort(callOptions.signal, stream);
          return mapStreamErrors(stream);
        };
        break;
      case 'client_streaming':
        result[method.localName] = (requests: AsyncIterable<unknown>, callOptions: CallOptionsKantoor) =>
          new Promise((resolve, reject) => {
            const [metadata, grpcOptions, traced] = prepare(callOptions);
            const call = fn(metadata, grpcOptions, (error: ServiceError | null, response: unknown) =>
              error ? reject(fromGrpcError(error)) : resolve(response),
            ) as NodeJS.WritableStream & { cancel(): void };
            traced(call);
            cancelOnAbort(callOptions.signal, call);
            // A few messages in flight per call: grpc-js would queue up to 16 before 'drain', which for a
            // file upload is 16 chunks held per upload while the server reads slowly.
            const ended = new Promise<void>((resolve) => call.once('status', () => resolve()));
            /** true once the call has ended (refused early, cancelled) with a write still pending */
            const endedFirst = (written: Promise<void>) =>
              Promise.race([written.then(() => false), ended.then(() => true)]);
            (async () => {
              const inFlight: Promise<void>[] = [];
              for await (const request of requests) {
                const message = create(method.input, request as never);
                if (inFlight.length >= MESSAGES_IN_FLIGHT && (await endedFirst(inFlight.shift()!))) return;
                const written = new Promise<void>((resolve, fail) =>
                  call.write(message as never, (error?: Error | null) => (error ? fail(error) : resolve())),
                );
                written.catch(() => undefined); // seen when its turn comes; not unhandled meanwhile
                inFlight.push(written);
              }
              if (await endedFirst(Promise.all(inFlight).then(() => undefined))) return;
              call.end();
            })().catch((error) => {
              call.cancel();
              reject(error);
            });
          });
        break;
      default:
        break;
    }
  }
  result.close = () => client.close();
  result.waitUntilServing = (timeoutMs: number) => waitUntilServing(address, service.typeName, timeoutMs);
  return result as ServiceClient<S>;
}

async function* mapStreamErrors(stream: ClientReadableStream<unknown>): AsyncIterable<never> {
  try {
    for await (const item of stream) yield item as never;
  } catch (error) {
    throw fromGrpcError(error as ServiceError);
  }
}

const constructors = new WeakMap<DescService, new (...args: ConstructorParameters<typeof Client>) => Client>();
function makeClientConstructor(service: DescService) {
  let ctor = constructors.get(service);
  if (!ctor) {
    // grpc-js builds the typed client class from a service definition
    const { makeClientConstructor: make } = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
    ctor = make(grpcServiceDefinition(service), service.typeName) as unknown as new (
      ...args: ConstructorParameters<typeof Client>
    ) => Client;
    constructors.set(service, ctor);
  }
  return ctor;
}

/** Polls the standard health service until it answers SERVING (used by the launcher and readiness checks). */
export async function waitUntilServing(address: string, serviceName: string, timeoutMs: number): Promise<void> {
  const health = new (makeClientConstructor(Health))(address, credentials.createInsecure());
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      const serving = await checkHealth(health, serviceName).catch(() => false);
      if (serving) return;
      if (Date.now() > until) throw new Error(`${serviceName} at ${address} is not serving after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    health.close();
  }
}

export function checkHealth(client: Client, serviceName: string): Promise<boolean> {
  return new Promise((resolve, reject) =>
    (client as unknown as { check: (...args: unknown[]) => void }).check(
      { service: serviceName },
      new Metadata(),
      { deadline: Date.now() + 1000 },
      (error: ServiceError | null, response: { status: number }) =>
        error ? reject(error) : resolve(response.status === HealthCheckResponse_ServingStatus.SERVING),
    ),
  );
}
