import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import {
  Server,
  ServerCredentials,
  status,
  type Metadata,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
  type sendUnaryData,
  type StatusObject,
} from '@grpc/grpc-js';
import { context as otelContext } from '@opentelemetry/api';
import { unauthenticated } from '@kantoor/errors';
import { contextWithRequestId, type Logger } from '@kantoor/logging';
import { HealthCheckResponse_ServingStatus, Health } from '@kantoor/proto/grpc/health/v1/health_pb';
import { callerFromMetadata, type Caller } from './caller';
import { toGrpcStatus } from './error-mapping';
import { grpcServiceDefinition } from './service-definition';
import { widenServerConnectionWindow, widenServerStreamWindow } from './flow-control';
import { endCall, startServerSpan } from './tracing';
import { youngServerSessions } from './young-calls';

export interface CallContext {
  /** who calls; every Kantoor RPC requires one (the gateway or a calling service sets it) */
  caller: Caller;
  metadata: Metadata;
  /** aborted when the client cancels or the deadline passes */
  signal: AbortSignal;
  deadline: Date | undefined;
}

/**
 * A call's context. A class rather than an object literal with `get signal()`: a literal's getter is a new
 * closure per call, which gives each context a hidden class of its own in V8's old generation, and that kept
 * every call's objects alive through young-generation collections until the next full one.
 */
class ServerCallContext implements CallContext {
  // the abort signal is made when a handler asks for it: most never do, and one per call costs
  #abort: AbortController | undefined;
  #cancelled = false;

  constructor(
    readonly caller: Caller,
    readonly metadata: Metadata,
    readonly deadline: Date | undefined,
  ) {}

  get signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#cancelled) this.#abort.abort();
    }
    return this.#abort.signal;
  }

  /** the client cancelled the call or its deadline passed */
  cancel(): void {
    this.#cancelled = true;
    this.#abort?.abort();
  }
}

type In<M extends DescMethod> = MessageShape<M['input']>;
type Out<M extends DescMethod> = MessageInitShape<M['output']>;

type MethodImpl<M extends DescMethod> = M['methodKind'] extends 'unary'
  ? (request: In<M>, context: CallContext) => Promise<Out<M>>
  : M['methodKind'] extends 'server_streaming'
    ? (request: In<M>, context: CallContext) => AsyncIterable<Out<M>>
    : M['methodKind'] extends 'client_streaming'
      ? (requests: AsyncIterable<In<M>>, context: CallContext) => Promise<Out<M>>
      : (requests: AsyncIterable<In<M>>, context: CallContext) => AsyncIterable<Out<M>>;

/** What a service implements for a generated service descriptor: one async function per RPC. */
export type ServiceImpl<S extends DescService> = { [K in keyof S['method']]: MethodImpl<S['method'][K]> };

export interface GrpcServiceRegistration {
  service: DescService;
  implementation: Record<string, (...args: never[]) => unknown>;
}

/** Typed helper: `implement(DirectoryService, { registerFirm: async (req, ctx) => ... })`. */
export function implement<S extends DescService>(service: S, implementation: ServiceImpl<S>): GrpcServiceRegistration {
  return { service, implementation: implementation as unknown as GrpcServiceRegistration['implementation'] };
}

export interface GrpcServerOptions {
  logger: Logger;
  services: GrpcServiceRegistration[];
  /** the name reported by the health service besides '' (the whole server), e.g. `kantoor.directory.v1.DirectoryService` */
  maxMessageBytes?: number;
}

/**
 * grpc-js keeps channelz statistics (counters and timestamps per call) unless told not to; nothing here serves
 * the channelz service that would read them.
 */
export const CHANNELZ_OFF = { 'grpc.enable_channelz': 0 } as const;

/**
 * A gRPC server with the standard health service, caller identity from metadata, error mapping and
 * cancellation. Health answers SERVING only between `start()` and `drain()`, which is what readiness
 * probes and the embedded launcher wait for.
 */
export class GrpcServer {
  readonly server: Server;
  private serving = false;
  private readonly logger: Logger;
  private readonly watchers = new Set<ServerWritableStream<unknown, unknown>>();
  private readonly serviceNames: string[];
  port = 0;

  constructor(options: GrpcServerOptions) {
    this.logger = options.logger;
    const limit = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.server = new Server({
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': limit,
      // Clients resolve a service's name when they connect; a pod added later (a scale-up) gets calls only once
      // they resolve again. Ending each connection after about 5 minutes (grpc-js adds ±10%) makes them do so.
      // Calls in flight on an ending connection have an hour to finish (a long ZIP download).
      'grpc.max_connection_age_ms': 5 * 60_000,
      'grpc.max_connection_age_grace_ms': 60 * 60_000,
      ...CHANNELZ_OFF,
    });
    // a wide HTTP/2 window for every stream and connection: an upload does not wait a round trip per message
    widenServerStreamWindow(this.server);
    this.serviceNames = options.services.map((registration) => registration.service.typeName);
    for (const registration of options.services) this.addService(registration);
    this.addHealth();
  }

  async start(host: string, port: number): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    widenServerConnectionWindow(this.server);
    // each connection's streams in collections that let finished calls die young
    youngServerSessions(this.server);
    this.setServing(true);
    return this.port;
  }

  /** Readiness off: health answers NOT_SERVING so that no new traffic is routed here. */
  drain(): void {
    this.setServing(false);
  }

  /** Waits for calls in flight (up to `timeoutMs`), then closes whatever is left. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.setServing(false);
    for (const watcher of this.watchers) watcher.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private setServing(serving: boolean): void {
    this.serving = serving;
    const response = this.healthResponse('');
    for (const watcher of this.watchers) watcher.write(response);
  }

  private healthResponse(service: string) {
    const known = service === '' || this.serviceNames.includes(service);
    return {
      status: !known
        ? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN
        : this.serving
          ? HealthCheckResponse_ServingStatus.SERVING
          : HealthCheckResponse_ServingStatus.NOT_SERVING,
    };
  }

  private addHealth(): void {
    this.server.addService(grpcServiceDefinition(Health), {
      check: (call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<unknown>) => {
        const response = this.healthResponse(call.request.service);
        if (response.status === HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN) {
          callback({ code: status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        } else callback(null, response);
      },
      watch: (call: ServerWritableStream<{ service: string }, unknown>) => {
        this.watchers.add(call);
        call.write(this.healthResponse(call.request.service));
        call.on('cancelled', () => this.watchers.delete(call));
        call.on('close', () => this.watchers.delete(call));
      },
    });
  }

  private addService({ service, implementation }: GrpcServiceRegistration): void {
    const handlers: Record<string, UntypedHandleCall> = {};
    for (const method of service.methods) {
      const impl = implementation[method.localName] as ((...args: unknown[]) => unknown) | undefined;
      if (!impl) throw new Error(`${service.typeName} has no implementation for ${method.name}`);
      handlers[method.localName] = this.handler(method, impl);
    }
    // a service whose RPCs are still to come answers health checks only (grpc-js refuses empty services)
    if (service.methods.length > 0) this.server.addService(grpcServiceDefinition(service), handlers);
  }

  private handler(method: DescMethod, impl: (...args: unknown[]) => unknown): UntypedHandleCall {
    const name = `${method.parent.typeName}/${method.name}`;
    const output = method.output;
    const fail = (error: unknown) => {
      const mapped = toGrpcStatus(error);
      if (mapped.code === status.INTERNAL) this.logger.error({ err: error, rpc: name }, 'rpc failed');
      else
        this.logger.debug(
          { rpc: name, code: mapped.code, reason: (error as { reason?: string }).reason },
          'rpc refused',
        );
      return mapped;
    };
    const contextOf = (call: {
      metadata: Metadata;
      getDeadline(): Date | number;
      on(event: string, listener: () => void): unknown;
    }) => {
      const caller = callerFromMetadata(call.metadata);
      if (!caller)
        throw unauthenticated(
          "the call carries no caller identity, or one not signed with the platform's caller signing key",
        );
      const deadline = call.getDeadline();
      const context = new ServerCallContext(
        caller,
        call.metadata,
        deadline instanceof Date ? deadline : Number.isFinite(deadline) ? new Date(deadline) : undefined,
      );
      call.on('cancelled', () => context.cancel());
      return context;
    };
    /**
     * Runs `work` with the call's context (its caller) inside the call's server span, which ends with the status the
     * call ends with; the caller's request id is in the OpenTelemetry context too, for log lines and events.
     */
    const traced = <T>(grpcCall: Parameters<typeof contextOf>[0], work: (context: ServerCallContext) => Promise<T>) => {
      const { call, context } = startServerSpan(name, grpcCall.metadata);
      let done: Promise<T>;
      try {
        const callContext = contextOf(grpcCall);
        done = otelContext.with(contextWithRequestId(callContext.caller.requestId, context), () => work(callContext));
      } catch (error) {
        done = Promise.reject(error);
      }
      return done.then(
        (result) => (endCall(call, status.OK), result),
        (error: unknown) => {
          const mapped = fail(error);
          endCall(call, mapped.code ?? status.UNKNOWN, mapped.details);
          throw mapped;
        },
      );
    };
    switch (method.methodKind) {
      case 'unary':
        return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          traced(call, async (context) => create(output, (await impl(call.request, context)) as never)).then(
            (response) => callback(null, response),
            (mapped: Partial<StatusObject>) => callback(mapped),
          );
        };
      case 'server_streaming':
        return (call: ServerWritableStream<unknown, unknown>) => {
          traced(call, async (context) => {
            for await (const item of impl(call.request, context) as AsyncIterable<unknown>) {
              if (call.cancelled) return;
              // respect backpressure: a slow client must not make the server buffer a whole download
              await written(call, create(output, item as never));
              // leaving the loop ends the handler's generator, so its `finally` closes what it opened
              if (call.cancelled) return;
            }
            call.end();
          }).catch((mapped: Partial<StatusObject>) => endWithStatus(call, mapped));
        };
      case 'client_streaming':
        return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          traced(call, async (context) => create(output, (await impl(call, context)) as never)).then(
            (response) => callback(null, response),
            (mapped: Partial<StatusObject>) => callback(mapped),
          );
        };
      default:
        return (call: ServerDuplexStream<unknown, unknown>) => {
          traced(call, async (context) => {
            for await (const item of impl(call, context) as AsyncIterable<unknown>) {
              await written(call, create(output, item as never));
              if (call.cancelled) return;
            }
            call.end();
          }).catch((mapped: Partial<StatusObject>) => endWithStatus(call, mapped));
        };
    }
  }
}

/**
 * Writes one message of a stream and, when its buffer is full, waits until it drains, or until the call is
 * cancelled or closed: grpc-js drops the writes of a cancelled call without calling back, so 'drain' would never
 * come and the handler (with the object store's connection it reads from) would wait for ever.
 */
async function written(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  message: unknown,
): Promise<void> {
  if (call.write(message)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      call.off('drain', done).off('cancelled', done).off('close', done);
      resolve();
    };
    call.on('drain', done).on('cancelled', done).on('close', done);
    if (call.cancelled || call.destroyed) done();
  });
}

/**
 * Ends a streaming call with an error status. grpc-js sends the status of an `error` event after the messages
 * already written; `destroy()` sends none, so the client would wait for its deadline and lose the tail.
 */
function endWithStatus(call: NodeJS.EventEmitter & { cancelled: boolean }, mapped: Partial<StatusObject>): void {
  if (call.cancelled) return;
  call.emit('error', Object.assign(new Error(mapped.details ?? 'failed'), mapped));
}

export type { DescMessage };
