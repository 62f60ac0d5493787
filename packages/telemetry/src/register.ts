/**
 * Started before anything else a process loads (`import '@kantoor/telemetry/register'` as the first line
 * of a main.ts): instrumentation only patches http, express, grpc and pg when they are loaded after it.
 * In cluster mode each pod serves Prometheus metrics on METRICS_PORT; in embedded mode the gateway serves
 * the one shared registry at /metrics.
 */
import { startTelemetry } from './start-telemetry';

const metricsPort = Number(process.env.METRICS_PORT ?? 9464);
startTelemetry({
  serviceName: process.env.OTEL_SERVICE_NAME ?? process.env.KANTOOR_SERVICE ?? 'kantoor',
  // cluster: a port of its own per pod (METRICS_PORT=0 turns it off); embedded: the gateway's /metrics serves
  // the metrics of every thread of the process
  prometheus: process.env.KANTOOR_MODE !== 'cluster' ? undefined : metricsPort > 0 ? { port: metricsPort } : false,
});
