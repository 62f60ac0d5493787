/**
 * Trace context in event headers, so that a consumer's span continues the trace of the request that caused
 * the event. Goes through the globally registered OpenTelemetry propagator (W3C `traceparent`/`tracestate`,
 * registered by @kantoor/telemetry) so events carry exactly what HTTP and gRPC calls carry; without a
 * registered propagator (telemetry off) nothing is added and extraction yields the context unchanged.
 */
import { context, propagation, type Context } from '@opentelemetry/api';

/** Returns a copy of `headers` with the trace context of `from` (default: the active context) added. */
export function injectTraceHeaders(
  headers: Record<string, string> = {},
  from: Context = context.active(),
): Record<string, string> {
  const carrier = { ...headers };
  propagation.inject(from, carrier);
  return carrier;
}

/** The context to run a record's handler in: `base` (default: the active context) with the record's trace. */
export function extractTraceContext(headers: Record<string, string>, base: Context = context.active()): Context {
  return propagation.extract(base, headers);
}
