import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  context,
  diag,
  metrics,
  propagation,
  trace,
  type Meter,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  getBooleanFromEnv,
  getNumberFromEnv,
  getStringFromEnv,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { invalidArgument } from '@kantoor/errors';
import { IdsOnlyTracerProvider } from './ids-only-tracer';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /**
   * Where Prometheus scrapes: `{ port }` serves `/metrics` on a port of its own (0 picks a free one; host
   * defaults to all interfaces, as a scrape comes from outside the pod); absent, metrics are served only
   * through `metricsHandler()` (the gateway's `/metrics` in embedded mode); `false`, no Prometheus metrics.
   */
  prometheus?: { port: number; host?: string } | false;
  /** the auto-instrumentations (pg; see `instrumentations()`); default true */
  instrumentations?: boolean;
}

export type MetricsRequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

export interface Telemetry {
  /** false when OTEL_SDK_DISABLED=true: nothing was registered, meters and tracers are no-ops */
  readonly enabled: boolean;
  /** writes the current metrics in Prometheus text format; absent when Prometheus is off */
  readonly prometheusHandler?: MetricsRequestHandler;
  /** the current metrics in Prometheus text format, as the handler writes them; absent when Prometheus is off */
  readonly prometheusText?: () => Promise<string>;
  /** the bound address once the own Prometheus port listens; rejects when it cannot (port taken) */
  readonly prometheusServer?: Promise<AddressInfo>;
  /** exports what is buffered, stops the Prometheus port and unregisters everything; safe to call twice */
  shutdown(): Promise<void>;
}

/** Probes and scrapes arrive every few seconds; as traces they would bury the requests worth reading. */
const UNTRACED_HTTP_PATHS = new Set(['/metrics', '/healthz', '/readyz', '/livez']);

let current: Telemetry | undefined;

/**
 * Ends this thread's telemetry, if started: exports the spans and metrics still buffered and stops the
 * Prometheus port. Processes register it with their shutdown before anything else, so that it runs last.
 */
export function shutdownTelemetry(): Promise<void> {
  return current?.shutdown() ?? Promise.resolve();
}

/**
 * Starts OpenTelemetry for this thread and returns it; later calls return the same instance. Call it first in
 * main.ts (an embedded service thread: in its worker script), before importing the modules it instruments: they
 * are patched only when they are required after this call.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (current) return current;
  if (getBooleanFromEnv('OTEL_SDK_DISABLED')) {
    current = { enabled: false, shutdown: async () => void (current = undefined) };
    return current;
  }
  if (options.prometheus) checkPort(options.prometheus.port);

  // the exporter's own server cannot bind port 0 and reports a taken port only to the silent diag logger;
  // its text comes from PROMETHEUS_TEXT (collectPrometheusText), not from its own serializer
  const prometheus = options.prometheus === false ? undefined : new PrometheusExporter({ preventServerStart: true });
  const prometheusText = prometheus && (() => collectPrometheusText(prometheus));
  const prometheusHandler: MetricsRequestHandler | undefined =
    prometheusText && ((request, response) => void writeMetrics(response, prometheusText));
  const metricReaders: MetricReader[] = prometheus ? [prometheus] : [];
  if (otlpEndpointConfigured('METRICS')) {
    // the OTLP exporters are loaded only when a collector is configured
    const { OTLPMetricExporter } =
      require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: getNumberFromEnv('OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000,
      }),
    );
  }
  let spanProcessor: SpanProcessor | undefined;
  if (otlpEndpointConfigured('TRACES')) {
    const { OTLPTraceExporter } =
      require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
    spanProcessor = new BatchSpanProcessor({ exporter: new OTLPTraceExporter() });
  }

  // The providers themselves rather than NodeSDK, which loads every exporter it knows (a sixth of a second and
  // ~15 MB in each process and each embedded service thread). Detected attributes (OTEL_SERVICE_NAME,
  // OTEL_RESOURCE_ATTRIBUTES, host, process) override these defaults, as NodeSDK has it.
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName,
        ...(options.serviceVersion && { [ATTR_SERVICE_VERSION]: options.serviceVersion }),
      }),
    )
    .merge(
      detectResources({
        detectors: [serviceInstanceIdDetector, processDetector, hostDetector, osDetector, envDetector],
      }),
    );
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(propagatorFromEnv());
  const meterProvider = metricReaders.length > 0 ? new MeterProvider({ resource, readers: metricReaders }) : undefined;
  if (meterProvider) metrics.setGlobalMeterProvider(meterProvider);
  // without a trace backend, spans get ids and pass the trace on but record nothing (ids-only-tracer.ts)
  const tracerProvider = spanProcessor
    ? new TracerProvider({ resource, sampler: samplerFromEnv(), spanProcessors: [spanProcessor] })
    : new IdsOnlyTracerProvider(samplerFromEnv());
  trace.setGlobalTracerProvider(tracerProvider);
  const unregisterInstrumentations = registerInstrumentations({
    instrumentations: options.instrumentations === false ? [] : instrumentations(),
    tracerProvider,
    meterProvider,
  });
  const sdk = {
    shutdown: async () => {
      unregisterInstrumentations();
      await Promise.all([
        tracerProvider instanceof TracerProvider && tracerProvider.shutdown(),
        meterProvider?.shutdown(),
      ]);
    },
  };

  const server =
    prometheusHandler && options.prometheus ? servePrometheus(prometheusHandler, options.prometheus) : undefined;
  let stopped: Promise<void> | undefined;
  const telemetry: Telemetry = {
    enabled: true,
    prometheusHandler,
    prometheusText,
    prometheusServer: server?.listening,
    shutdown: () =>
      (stopped ??= (async () => {
        try {
          await Promise.all([sdk.shutdown(), server && closeServer(server.http)]);
        } finally {
          trace.disable();
          metrics.disable();
          propagation.disable();
          context.disable();
          if (current === telemetry) current = undefined;
        }
      })()),
  };
  current = telemetry;
  return telemetry;
}

/** every sample names its service, so the embedded platform's threads can share one /metrics */
const PROMETHEUS_TEXT = new PrometheusSerializer(undefined, false, /^service\.name$/);
const metricsSources = new Set<() => Promise<string>>();

/**
 * Adds metrics kept elsewhere in this process (the worker threads of the embedded platform, each with its
 * own providers) to what `metricsHandler()` serves; returns the function that removes them again.
 */
export function addMetricsSource(source: () => Promise<string>): () => void {
  metricsSources.add(source);
  return () => void metricsSources.delete(source);
}

/** This thread's metrics in Prometheus text format ('' when Prometheus is off here). */
export async function prometheusText(): Promise<string> {
  return (await current?.prometheusText?.()) ?? '';
}

/**
 * A `/metrics` handler for an http or express server of the caller's (the gateway in embedded mode): this
 * thread's metrics and those of every added source, one family each. It reads the started telemetry at
 * request time, so it can be mounted before or after startTelemetry.
 */
export function metricsHandler(): MetricsRequestHandler {
  return (_request, response) => {
    const own = current?.prometheusText;
    if (own || metricsSources.size > 0)
      return void writeMetrics(response, async () =>
        mergePrometheusTexts(await Promise.all([...(own ? [own] : []), ...metricsSources].map((source) => source()))),
      );
    response.statusCode = 503;
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    response.end('Prometheus metrics are not enabled in this process\n');
  };
}

async function collectPrometheusText(exporter: PrometheusExporter): Promise<string> {
  const { resourceMetrics, errors } = await exporter.collect();
  if (errors.length > 0) diag.error('metrics collection errors', ...errors);
  return PROMETHEUS_TEXT.serialize(resourceMetrics);
}

async function writeMetrics(response: ServerResponse, text: () => Promise<string>): Promise<void> {
  try {
    const body = await text();
    response.statusCode = 200;
    response.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    response.end(body);
  } catch (error) {
    response.statusCode = 500;
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    response.end(`metrics could not be collected: ${(error as Error).message}\n`);
  }
}

/**
 * Several Prometheus texts as one: a family named in more than one keeps its first HELP and TYPE lines and
 * gets the samples of all (they differ by their service_name label); comments without a family are dropped.
 */
export function mergePrometheusTexts(texts: string[]): string {
  const families = new Map<string, { metadata: string[]; samples: string[] }>();
  for (const text of texts) {
    let family: { metadata: string[]; samples: string[] } | undefined;
    for (const line of text.split('\n')) {
      const meta = /^# (HELP|TYPE|UNIT) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2];
        const known = families.get(name);
        family = known ?? { metadata: [], samples: [] };
        if (!known) families.set(name, family);
        if (!family.metadata.some((kept) => kept.startsWith(`# ${meta[1]} `))) family.metadata.push(line);
      } else if (line.trim() !== '' && !line.startsWith('#')) {
        family?.samples.push(line);
      }
    }
  }
  const blocks = [...families.values()].map(({ metadata, samples }) => [...metadata, ...samples].join('\n'));
  return blocks.length > 0 ? `${blocks.join('\n\n')}\n` : '# no registered metrics\n';
}

export const meter = (name: string, version?: string): Meter => metrics.getMeter(name, version);
export const tracer = (name: string, version?: string): Tracer => trace.getTracer(name, version);

function otlpEndpointConfigured(signal: 'TRACES' | 'METRICS'): boolean {
  return Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]);
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as the specification names them; parent-based always-on by default. */
function samplerFromEnv(): Sampler {
  const name = getStringFromEnv('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  const argument = getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG');
  const ratio = () => new TraceIdRatioBasedSampler(argument === undefined ? 1 : Math.min(1, Math.max(0, argument)));
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    default:
      diag.error(`unknown OTEL_TRACES_SAMPLER value "${name}", using parentbased_always_on`);
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** W3C trace context and baggage; OTEL_PROPAGATORS may narrow that (tracecontext, baggage, none). */
function propagatorFromEnv(): TextMapPropagator {
  const names = (getStringFromEnv('OTEL_PROPAGATORS') ?? 'tracecontext,baggage').split(',').map((name) => name.trim());
  const propagators: TextMapPropagator[] = [];
  for (const name of new Set(names)) {
    if (name === 'tracecontext') propagators.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') propagators.push(new W3CBaggagePropagator());
    else if (name !== 'none' && name !== '') diag.error(`OTEL_PROPAGATORS: "${name}" is not supported here; ignored`);
  }
  return new CompositePropagator({ propagators });
}

const INSTRUMENTATIONS = {
  // outbox relays and pollers query on a timer; only queries made on behalf of a traced request are spans
  pg: () => new PgInstrumentation({ requireParentSpan: true }),
  http: () =>
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (request) => UNTRACED_HTTP_PATHS.has(pathOf(request.url)),
    }),
  // a span per middleware costs more than the request itself; the route still names the http span
  express: () =>
    new ExpressInstrumentation({ ignoreLayersType: ['middleware', 'request_handler', 'router'] as never[] }),
};

/**
 * Only pg by default: the gateway opens the request span and measures `http.server.request.duration` itself,
 * and gRPC calls trace themselves in @kantoor/grpc; the http and express instrumentations cost a tenth to a
 * quarter of the CPU of a gateway request. OTEL_NODE_ENABLED_INSTRUMENTATIONS (comma-separated: pg, http,
 * express) chooses others; OTEL_NODE_DISABLED_INSTRUMENTATIONS takes some away.
 */
function instrumentations(): Instrumentation[] {
  const list = (name: string) =>
    getStringFromEnv(name)
      ?.split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  const enabled = list('OTEL_NODE_ENABLED_INSTRUMENTATIONS') ?? ['pg'];
  const disabled = new Set(list('OTEL_NODE_DISABLED_INSTRUMENTATIONS') ?? []);
  return Object.entries(INSTRUMENTATIONS)
    .filter(([name]) => enabled.includes(name) && !disabled.has(name))
    .map(([, make]) => make());
}

function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?', 1)[0];
}

function servePrometheus(handler: MetricsRequestHandler, { port, host = '0.0.0.0' }: { port: number; host?: string }) {
  const http: Server = createServer((request, response) => {
    if (pathOf(request.url) === '/metrics' && (request.method === 'GET' || request.method === 'HEAD'))
      return handler(request, response);
    response.statusCode = 404;
    response.end();
  });
  // like the exporter's own server: scraping alone must not keep a finished process alive
  http.unref();
  const listening = new Promise<AddressInfo>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => resolve(http.address() as AddressInfo));
  });
  listening.catch((error: Error) =>
    process.stderr.write(
      `${JSON.stringify({ level: 'error', msg: `cannot serve Prometheus metrics on ${host}:${port}: ${error.message}` })}\n`,
    ),
  );
  return { http, listening };
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections(); // a scraper's keep-alive connection would hold close() open
  return closed;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidArgument(`Prometheus port ${port} is not a port number (0 to 65535)`, {
      reason: 'invalid_port',
      violations: [{ field: 'prometheus.port', message: 'must be an integer from 0 to 65535' }],
    });
  }
}
