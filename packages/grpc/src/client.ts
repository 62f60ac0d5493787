import type { DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import {
  Client,
  credentials,
  Metadata,
  status,
  type CallOptions,
  type ClientReadableStream,
  type ClientWritableStream,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { Readable } from 'node:stream';
import { HealthCheckResponse_ServingStatus, Health } from '@kantoor/proto/grpc/health/v1/health_pb';
import { setCallerMetadata, type Caller } from './caller';
import { fromGrpcError } from './error-mapping';
import { CHANNELZ_OFF } from './server';
import { grpcServiceDefinition } from './service-definition';
import { endCall, startClientSpan, type CallTrace } from './tracing';
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

/** grpc-js's refusal of a unary call that ended without a message */
const NO_ANSWER: StatusObject = {
  code: status.UNIMPLEMENTED,
  details: 'No message received',
  metadata: new Metadata(),
};

/** a unary call whose signal was aborted before it began */
const CANCELLED_BEFORE_START: StatusObject = {
  code: status.CANCELLED,
  details: 'Cancelled on client before the call began',
  metadata: new Metadata(),
};

/** The error grpc-js itself gives for a status (its `callErrorFromStatus`), as `fromGrpcError` reads it. */
function serviceError(received: StatusObject): ServiceError {
  const error = new Error(`${received.code} ${status[received.code]}: ${received.details}`);
  return Object.assign(error, received);
}

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** messages of a client stream written but not yet taken by the connection */
const MESSAGES_IN_FLIGHT = 4;

/**
 * Writes the messages `source` gives (a Readable in object mode: what a client-streaming call was given, or a
 * stream over its iterable) to the call, and ends the call after the last one. At most MESSAGES_IN_FLIGHT are
 * written and not yet taken by the connection: grpc-js would take 16 before 'drain', which for a file upload is
 * 16 chunks held per upload while the server reads slowly. Driven by the streams' events, so that a file's
 * chunks pass without promises of their own (each one costs Node 20's async hooks an object as well).
 * When the call ends first (refused early, cancelled) the source is destroyed and nothing more is read; a
 * source that fails, or a write that does, goes to `fail`.
 */
function writeAll(
  source: Readable,
  call: ClientWritableStream<unknown>,
  toMessage: (request: unknown) => unknown,
  fail: (error: Error) => void,
): void {
  let inFlight = 0;
  let sourceEnded = false;
  let over = false;
  const stop = () => {
    over = true;
    source.off('data', onData).off('end', onEnd).off('error', onError);
    call.off('status', onStatus);
    // an error the source raises from now on has nobody left to tell
    source.on('error', () => undefined);
  };
  const endWhenWritten = () => {
    if (inFlight > 0) return;
    stop();
    call.end();
  };
  function onData(request: unknown) {
    let message: unknown;
    try {
      message = toMessage(request);
    } catch (error) {
      return onError(error as Error);
    }
    inFlight += 1;
    call.write(message, written);
    if (inFlight >= MESSAGES_IN_FLIGHT) source.pause();
  }
  function written(error?: Error | null) {
    inFlight -= 1;
    if (over) return;
    if (error) return onError(error);
    if (sourceEnded) endWhenWritten();
    else if (inFlight < MESSAGES_IN_FLIGHT) source.resume();
  }
  function onEnd() {
    sourceEnded = true;
    endWhenWritten();
  }
  function onError(error: Error) {
    if (over) return;
    stop();
    source.destroy();
    fail(error);
  }
  function onStatus() {
    if (over) return;
    stop();
    source.destroy();
  }
  call.once('status', onStatus);
  source.on('error', onError).once('end', onEnd).on('data', onData);
}

type In<M extends DescMethod> = MessageInitShape<M['input']>;
type Out<M extends DescMethod> = MessageShape<M['output']>;

type ClientMethod<M extends DescMethod> = M['methodKind'] extends 'unary'
  ? (request: In<M>, options: CallOptionsKantoor) => Promise<Out<M>>
  : M['methodKind'] extends 'server_streaming'
    ? (request: In<M>, options: CallOptionsKantoor) => AsyncIterable<Out<M>>
    : M['methodKind'] extends 'client_streaming'
      ? (requests: AsyncIterable<In<M>> | Readable, options: CallOptionsKantoor) => Promise<Out<M>>
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
  const channel = client.getChannel();
  const definition = grpcServiceDefinition(service);
  const result: Record<string, unknown> = {};

  for (const method of service.methods) {
    const rpc = `${service.typeName}/${method.name}`;
    /** metadata (caller, trace context) and deadline of a call, and its span, which ends with the call's status */
    const prepare = (callOptions: CallOptionsKantoor): [Metadata, CallOptions, CallTrace] => {
      const metadata = new Metadata();
      setCallerMetadata(metadata, callOptions.caller);
      const traced = startClientSpan(rpc, metadata);
      return [metadata, { deadline: Date.now() + (callOptions.timeoutMs ?? defaultTimeout) }, traced];
    };
    const endOnStatus = (call: NodeJS.EventEmitter, traced: CallTrace) =>
      call.once('status', (received: StatusObject) => endCall(traced, received.code, received.details));
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method.localName].bind(client);
    switch (method.methodKind) {
      /**
       * A unary call is answered when its response message arrives, not when the status after it does. A grpc-js server
       * sends a unary answer as headers and message, and its status (`grpc-status` in HTTP/2 trailers) only one
       * event-loop turn of the server later: node:http2 defers every `sendTrailers` with setImmediate, so the trailers
       * leave with the server's next write, after it has handled whatever arrived meanwhile. Under load that turn was
       * 5–6 ms at the median and 24 ms at the 99th percentile for each gateway request (embedded platform, GET /v1/firm
       * at 50 connections, the gateway timing message and status of each call). The answer is complete when its message
       * is: a grpc-js server sends the message of a unary call only once its handler has answered, and the status after
       * it is OK unless the call was cut in the moment between (cancelled, deadline), when the answer has been given
       * all the same. A call that ends without a message is refused with its status as before. Its span still ends, and
       * its duration is still recorded, with the status.
       *
       * The call goes straight to the channel (grpc-js's public `createCall`), without the interceptor layers and call
       * object of `makeUnaryRequest`, which Kantoor does not use.
       */
      case 'unary': {
        const { path, requestSerialize, responseDeserialize } = definition[method.localName];
        result[method.localName] = (request: unknown, callOptions: CallOptionsKantoor) =>
          new Promise((resolve, reject) => {
            // a caller that has already given up (its client left) sends nothing
            if (callOptions.signal?.aborted) return reject(fromGrpcError(serviceError(CANCELLED_BEFORE_START)));
            const [metadata, grpcOptions, traced] = prepare(callOptions);
            const call = channel.createCall(path, grpcOptions.deadline!, undefined, null, undefined);
            let answered = false;
            call.start(metadata, {
              onReceiveMetadata: () => undefined,
              onReceiveMessage: (bytes: Buffer) => {
                if (answered) return call.cancelWithStatus(status.UNIMPLEMENTED, 'Too many responses received');
                let answer: unknown;
                try {
                  answer = responseDeserialize(bytes);
                } catch (error) {
                  // its status (this one) comes next and refuses the call
                  return call.cancelWithStatus(status.INTERNAL, `Response message parsing error: ${String(error)}`);
                }
                answered = true;
                resolve(answer);
              },
              onReceiveStatus: (received: StatusObject) => {
                endCall(traced, received.code, received.details);
                if (answered) return;
                reject(fromGrpcError(serviceError(received.code === status.OK ? NO_ANSWER : received)));
              },
            });
            call.startRead();
            call.sendMessageWithContext({}, requestSerialize(create(method.input, request as never)));
            call.halfClose();
            // once answered there is nothing left to cancel: the status that follows only ends the span
            cancelOnAbort(callOptions.signal, {
              cancel: () => answered || call.cancelWithStatus(status.CANCELLED, 'Cancelled on client'),
            });
          });
        break;
      }
      case 'server_streaming':
        result[method.localName] = (request: unknown, callOptions: CallOptionsKantoor) => {
          const [metadata, grpcOptions, traced] = prepare(callOptions);
          const stream = fn(
            create(method.input, request as never),
            metadata,
            grpcOptions,
          ) as ClientReadableStream<unknown>;
          endOnStatus(stream, traced);
          cancelOnAbort(callOptions.signal, stream);
          return mapStreamErrors(stream);
        };
        break;
      case 'client_streaming':
        result[method.localName] = (requests: AsyncIterable<unknown> | Readable, callOptions: CallOptionsKantoor) =>
          new Promise((resolve, reject) => {
            const [metadata, grpcOptions, traced] = prepare(callOptions);
            const call = fn(metadata, grpcOptions, (error: ServiceError | null, response: unknown) =>
              error ? reject(fromGrpcError(error)) : resolve(response),
            ) as ClientWritableStream<unknown>;
            endOnStatus(call, traced);
            cancelOnAbort(callOptions.signal, call);
            // one message read ahead at most: an iterable's messages are made as they are sent
            const source = requests instanceof Readable ? requests : Readable.from(requests, { highWaterMark: 1 });
            writeAll(
              source,
              call,
              (request) => create(method.input, request as never),
              (error) => {
                call.cancel();
                reject(error);
              },
            );
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
