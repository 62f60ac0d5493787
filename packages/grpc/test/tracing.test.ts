import { onlyTheseMethods } from '@kantoor/testing';
import { context, trace } from '@opentelemetry/api';
import { DomainError, notFound } from '@kantoor/errors';
import { createLogger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { startTelemetry, tracer, type Telemetry } from '@kantoor/telemetry';
import { createServiceClient, GrpcServer, implement, type Caller } from '@kantoor/grpc';

const system: Caller = { kind: 'system', subjectId: 'gateway', firmId: 'firm-1', scopes: [] };

/** The trace the server handled a call in. */
interface Seen {
  traceId?: string;
}

describe('traces across gRPC calls', () => {
  let telemetry: Telemetry;
  let server: GrpcServer;
  let address: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    telemetry = startTelemetry({ serviceName: 'grpc-tracing-test', instrumentations: false });
    server = new GrpcServer({
      logger: createLogger({ service: 'test', level: 'silent' }),
      services: [
        implement(
          DirectoryService,
          onlyTheseMethods(
            {
              getFirm: async (request: { firmId: string }) => {
                seen.push({ traceId: trace.getActiveSpan()?.spanContext().traceId });
                if (request.firmId === 'missing') throw notFound('Firm not found');
                return { firm: { id: request.firmId } };
              },
            },
            () => new DomainError('internal', 'not used in this test'),
          ),
        ),
      ],
    });
    address = `127.0.0.1:${await server.start('127.0.0.1', 0)}`;
  });
  afterAll(async () => {
    await server.stop();
    await telemetry.shutdown();
  });

  it("continues the caller's trace on the server, for answers and refusals alike", async () => {
    const client = createServiceClient(DirectoryService, address);
    try {
      const request = tracer('test').startSpan('GET /v1/firm');
      await context.with(trace.setSpan(context.active(), request), async () => {
        await client.getFirm({ firmId: 'firm-1' }, { caller: system });
        await expect(client.getFirm({ firmId: 'missing' }, { caller: system })).rejects.toMatchObject({
          kind: 'not_found',
        });
      });
      request.end();
      expect(seen).toHaveLength(2);
      for (const call of seen) expect(call.traceId).toBe(request.spanContext().traceId);
    } finally {
      client.close();
    }
  });

  it('records the duration of every call on both sides, by method and status code', async () => {
    const client = createServiceClient(DirectoryService, address);
    try {
      await client.getFirm({ firmId: 'firm-1' }, { caller: system });
      await expect(client.getFirm({ firmId: 'missing' }, { caller: system })).rejects.toMatchObject({
        kind: 'not_found',
      });
    } finally {
      client.close();
    }
    const text = await telemetry.prometheusText!();
    for (const side of ['client', 'server']) {
      expect(text).toContain(`# TYPE rpc_${side}_duration histogram`);
      for (const code of ['0', '5']) {
        const count = new RegExp(
          `^rpc_${side}_duration_count\\{[^}]*rpc_method="GetFirm"[^}]*rpc_grpc_status_code="${code}"[^}]*\\} ([0-9]+)$`,
          'm',
        ).exec(text);
        expect([side, code, Number(count?.[1])]).toEqual([side, code, expect.any(Number)]);
        expect(Number(count![1])).toBeGreaterThanOrEqual(1);
      }
    }
    expect(text).toMatch(/rpc_service="kantoor\.directory\.v1\.DirectoryService"/);
  });

  it('starts a trace of its own for a call made outside any trace', async () => {
    const client = createServiceClient(DirectoryService, address);
    try {
      seen.length = 0;
      await client.getFirm({ firmId: 'firm-2' }, { caller: system });
      await client.getFirm({ firmId: 'firm-3' }, { caller: system });
      const [first, second] = seen.map((call) => call.traceId);
      expect(first).toMatch(/^[0-9a-f]{32}$/);
      expect(second).toMatch(/^[0-9a-f]{32}$/);
      expect(first).not.toBe(second);
    } finally {
      client.close();
    }
  });
});
