/**
 * OpenTelemetry for every Kantoor process: traces (OTLP when a collector is configured), metrics (Prometheus
 * scrape endpoint, plus OTLP when configured) and W3C trace context propagation. See README.md for settings.
 */
export {
  addMetricsSource,
  mergePrometheusTexts,
  metricsHandler,
  meter,
  prometheusText,
  shutdownTelemetry,
  startTelemetry,
  tracer,
} from './start-telemetry';
export type { MetricsRequestHandler, Telemetry, TelemetryOptions } from './start-telemetry';
