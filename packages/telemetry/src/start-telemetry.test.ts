import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, trace, TraceFlags } from '@opentelemetry/api';
import { meter, mergePrometheusTexts, metricsHandler, startTelemetry, tracer, type Telemetry } from './index';

const ENV_KEYS = [
  'OTEL_SDK_DISABLED',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
];
const savedEnv = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
let telemetry: Telemetry | undefined;
const servers: Server[] = [];

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  for (const key of ENV_KEYS) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
});

async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** agent: false, so no keep-alive socket outlives the test */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('startTelemetry', () => {
  it("serves a counter in Prometheus text format through the gateway's /metrics handler", async () => {
    telemetry = startTelemetry({ serviceName: 'kantoor-test', serviceVersion: '1.2.3', instrumentations: false });
    meter('invoicing').createCounter('kantoor_test_total', { description: 'invoices issued' }).add(3, { firm: 'f-1' });
    const gateway = await listen(metricsHandler());

    const { status, body } = await get(`${gateway}/metrics`);
    expect(status).toBe(200);
    expect(body).toContain('# TYPE kantoor_test_total counter');
    expect(body).toMatch(/^kantoor_test_total\{[^}]*firm="f-1"[^}]*\} 3$/m);
    expect(body).toMatch(/^target_info\{[^}]*service_name="kantoor-test"[^}]*service_version="1.2.3"/m);
  });

  it('serves /metrics on a port of its own and stops serving it on shutdown', async () => {
    telemetry = startTelemetry({
      serviceName: 'kantoor-test',
      prometheus: { port: 0, host: '127.0.0.1' },
      instrumentations: false,
    });
    const { port } = await telemetry.prometheusServer!;
    meter('archive').createCounter('kantoor_documents_archived_total').add(1);

    expect((await get(`http://127.0.0.1:${port}/metrics`)).body).toMatch(
      /^kantoor_documents_archived_total\{[^}]*\} 1$/m,
    );
    expect((await get(`http://127.0.0.1:${port}/other`)).status).toBe(404);

    await telemetry.shutdown();
    await expect(get(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('returns the running instance to a second caller, so embedded services share one set of providers', async () => {
    telemetry = startTelemetry({ serviceName: 'kantoor', instrumentations: false });
    expect(startTelemetry({ serviceName: 'archive', prometheus: false })).toBe(telemetry);
  });

  it('gives spans trace ids without a trace backend and propagates them as W3C traceparent', () => {
    telemetry = startTelemetry({ serviceName: 'kantoor-test', prometheus: false, instrumentations: false });
    const headers: Record<string, string> = {};
    const span = tracer('gateway').startActiveSpan('GET /dossiers', (active) => {
      propagation.inject(context.active(), headers);
      active.end();
      return active;
    });
    const { traceId, spanId } = span.spanContext();
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    expect(headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
  });

  it('samples new traces at the OTEL_TRACES_SAMPLER_ARG ratio but always follows a sampled caller', () => {
    process.env.OTEL_TRACES_SAMPLER = 'parentbased_traceidratio';
    process.env.OTEL_TRACES_SAMPLER_ARG = '0';
    telemetry = startTelemetry({ serviceName: 'kantoor-test', prometheus: false, instrumentations: false });
    const root = tracer('gateway').startSpan('GET /v1/firm');
    // unsampled, it still has ids: log lines keep their trace_id and the decision travels to other services
    expect(trace.isSpanContextValid(root.spanContext())).toBe(true);
    expect(root.isRecording()).toBe(false);
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), root), headers);
    expect(headers.traceparent).toMatch(/-00$/);

    const sampledCaller = propagation.extract(context.active(), {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    const child = tracer('gateway').startSpan('GET /v1/firm', {}, sampledCaller);
    expect(child.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
    expect(child.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    root.end();
    child.end();
  });

  it("records nothing without a trace backend, yet continues the caller's trace with a span of its own", () => {
    telemetry = startTelemetry({ serviceName: 'kantoor-test', prometheus: false, instrumentations: false });
    const caller = (flags: string) =>
      propagation.extract(context.active(), {
        traceparent: `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-${flags}`,
      });
    for (const [flags, expected] of [
      ['01', TraceFlags.SAMPLED],
      ['00', TraceFlags.NONE],
    ] as const) {
      const span = tracer('gateway').startSpan('GET /v1/firm', {}, caller(flags));
      expect(span.isRecording()).toBe(false);
      expect(span.spanContext()).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', traceFlags: expected });
      expect(span.spanContext().spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(span.spanContext().spanId).not.toBe('b7ad6b7169203331');
      span.end();
    }
    const root = tracer('gateway').startSpan('nightly backup', { root: true }, caller('01'));
    expect(root.spanContext().traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
    expect(trace.isSpanContextValid(root.spanContext())).toBe(true);

    const seen = tracer('gateway').startActiveSpan('outer', { attributes: { a: 1 } }, caller('01'), (outer) => {
      const inner = tracer('gateway').startSpan('inner');
      return [outer.spanContext(), inner.spanContext(), trace.getActiveSpan()?.spanContext()];
    });
    expect(seen[1]?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(seen[2]).toEqual(seen[0]);
  });

  it('takes the service name and attributes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over its own', async () => {
    process.env.OTEL_SERVICE_NAME = 'kantoor-archive';
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=staging';
    telemetry = startTelemetry({ serviceName: 'archive', instrumentations: false });
    meter('archive').createCounter('kantoor_test_total').add(1);
    const { body } = await get(`${await listen(metricsHandler())}/metrics`);
    expect(body).toMatch(/^target_info\{[^}]*service_name="kantoor-archive"/m);
    expect(body).toMatch(/^target_info\{[^}]*deployment_environment_name="staging"/m);
  });

  it('starts nothing when OTEL_SDK_DISABLED=true', async () => {
    process.env.OTEL_SDK_DISABLED = 'true';
    telemetry = startTelemetry({ serviceName: 'kantoor-test', prometheus: { port: 0 } });
    expect(telemetry.enabled).toBe(false);
    expect(telemetry.prometheusHandler).toBeUndefined();
    expect(telemetry.prometheusServer).toBeUndefined();
    const span = tracer('gateway').startSpan('ignored');
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    const { status, body } = await get(`${await listen(metricsHandler())}/metrics`);
    expect(status).toBe(503);
    expect(body).toContain('not enabled');
  });

  it('can start again after a shutdown', async () => {
    const first = startTelemetry({ serviceName: 'kantoor-test', instrumentations: false });
    await first.shutdown();
    telemetry = startTelemetry({ serviceName: 'kantoor-test', instrumentations: false });
    expect(telemetry).not.toBe(first);
    meter('backup').createCounter('kantoor_backups_total').add(2);
    expect((await get(`${await listen(metricsHandler())}/metrics`)).body).toMatch(
      /^kantoor_backups_total\{[^}]*\} 2$/m,
    );
  });

  it('refuses a Prometheus port that is not a port number', () => {
    expect(() => startTelemetry({ serviceName: 'kantoor-test', prometheus: { port: 70000 } })).toThrow(
      expect.objectContaining({ kind: 'invalid_argument', reason: 'invalid_port' }),
    );
  });
});

describe('metrics of several threads as one Prometheus text', () => {
  test('a family named by several threads keeps one HELP and TYPE and the samples of all', () => {
    const directory = [
      '# HELP kantoor_events_published_total Events published',
      '# TYPE kantoor_events_published_total counter',
      'kantoor_events_published_total{service_name="directory"} 3',
      '',
      '# HELP target_info Target metadata',
      '# TYPE target_info gauge',
      'target_info{service_name="directory"} 1',
    ].join('\n');
    const archive = [
      '# HELP target_info Target metadata',
      '# TYPE target_info gauge',
      'target_info{service_name="archive"} 1',
      '# HELP kantoor_events_published_total Events published',
      '# TYPE kantoor_events_published_total counter',
      'kantoor_events_published_total{service_name="archive"} 5',
    ].join('\n');
    expect(mergePrometheusTexts([directory, archive, '# no registered metrics'])).toBe(
      [
        '# HELP kantoor_events_published_total Events published',
        '# TYPE kantoor_events_published_total counter',
        'kantoor_events_published_total{service_name="directory"} 3',
        'kantoor_events_published_total{service_name="archive"} 5',
        '',
        '# HELP target_info Target metadata',
        '# TYPE target_info gauge',
        'target_info{service_name="directory"} 1',
        'target_info{service_name="archive"} 1',
        '',
      ].join('\n'),
    );
  });

  test('nothing at all is said as such', () => {
    expect(mergePrometheusTexts(['', '# no registered metrics'])).toBe('# no registered metrics\n');
  });
});
