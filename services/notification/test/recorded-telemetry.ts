/**
 * Spans and metrics kept in memory, for tests that read them. Importing the service started this process's telemetry
 * (main.ts imports @kantoor/telemetry/register: context, W3C propagation, spans that record nothing, Prometheus); its
 * tracer and meter providers are replaced by ones that keep what they get, until `stop()`. Call it before starting the
 * service: the workers take their meters when they are built.
 */
import { metrics, trace, type Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

export interface RecordedTelemetry {
  /** the ended spans so far, oldest first */
  spans(): ReadableSpan[];
  /** the metric's data points, collected now (gauges run their callbacks) */
  points(metric: string): Promise<Array<DataPoint<unknown>>>;
  stop(): Promise<void>;
}

export function recordTelemetry(): RecordedTelemetry {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // collected only when asked (forceFlush)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 24 * 3600 * 1000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  trace.disable();
  metrics.disable();
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    spans: () => spans.getFinishedSpans(),
    async points(metric) {
      exporter.reset();
      await reader.forceFlush();
      const found = exporter
        .getMetrics()
        .flatMap((resource) => resource.scopeMetrics)
        .flatMap((scope) => scope.metrics)
        .find((data) => data.descriptor.name === metric);
      return (found?.dataPoints ?? []) as Array<DataPoint<unknown>>;
    },
    async stop() {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
    },
  };
}

/** Whether `attributes` hold every one of `wanted`. */
export const hasAttributes = (attributes: Attributes, wanted: Attributes): boolean =>
  Object.entries(wanted).every(([key, value]) => attributes[key] === value);
