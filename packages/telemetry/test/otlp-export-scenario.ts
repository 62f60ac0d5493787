/** A service's life in brief, run by otlp-export.test.ts in its own process against a fake collector. */
import { meter, startTelemetry, tracer } from '../src';

const telemetry = startTelemetry({ serviceName: 'kantoor-otlp-test', prometheus: false });
tracer('invoicing').startSpan('issue invoice').end();
meter('invoicing').createCounter('kantoor_invoices_issued_total').add(1);
void telemetry.shutdown();
