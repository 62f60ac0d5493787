/**
 * Spans and metrics kept in memory, for tests that read them. Importing a service started this process's telemetry
 * (its main.ts imports @kantoor/telemetry/register: context, W3C propagation, spans that record nothing, Prometheus);
 * its tracer and meter providers are replaced by ones that keep what they get, until `stop()`. Call it before starting
 * the service: its parts take their meters when they are built. The SDK is loaded only here, not by every test that
 * imports @kantoor/testing.
 */
import { metrics, trace, type Attributes } from '@opentelemetry/api';
import type { DataPoint } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

export interface RecordedTelemetry {
  /** the ended spans so far, oldest first */
  spans(): ReadableSpan[];
  /** the metric's data points, collected now (gauges run their callbacks) */
  points(metric: string): Promise<Array<DataPoint<unknown>>>;
  stop(): Promise<void>;
}

export function recordTelemetry(): RecordedTelemetry {
  const { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } =
    require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } =
    require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
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
