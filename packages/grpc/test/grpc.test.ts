import { Readable } from 'node:stream';
import { conflict, DomainError, invalidArgument, notFound } from '@kantoor/errors';
import { createLogger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { DocumentIntakeService } from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import {
  createServiceClient,
  GrpcServer,
  implement,
  waitUntilServing,
  type Caller,
  type ServiceClient,
} from '@kantoor/grpc';
import { eventually, onlyTheseMethods as onlyMethods } from '@kantoor/testing';

/** The directory service serves as the sample contract; the RPCs these tests do not use answer internal. */
const onlyTheseMethods = <T extends object>(methods: T) =>
  onlyMethods(methods, () => new DomainError('internal', 'not used in this test'));

const admin: Caller = {
  kind: 'staff',
  subjectId: 'staff-1',
  firmId: 'firm-1',
  role: 'admin',
  email: 'an@firm.example',
  scopes: [],
};

describe('gRPC adapter over generated descriptors', () => {
  let server: GrpcServer;
  let address: string;
  const seen: Caller[] = [];
  let handlerSawCancel: () => void = () => undefined;
  const firmsAsked: string[] = [];

  beforeAll(async () => {
    server = new GrpcServer({
      logger: createLogger({ service: 'test', level: 'silent' }),
      services: [
        implement(
          DirectoryService,
          onlyTheseMethods({
            registerFirm: async (request: { name: string; language: string }, context: { caller: Caller }) => {
              seen.push(context.caller);
              if (request.name === 'Taken')
                throw conflict('a firm with this name exists', { reason: 'firm_name_taken' });
              if (request.name === 'Crash') throw new Error('database password is hunter2');
              if (request.name === 'Busy')
                throw new DomainError('unavailable', 'Registrations are paused; try again in a minute.', {
                  reason: 'register_busy',
                });
              return {
                firm: { id: 'firm-9', name: request.name, language: request.language },
                adminStaffId: 'staff-9',
              };
            },
            getFirm: async (request: { firmId: string }, context: { signal: AbortSignal }) => {
              if (request.firmId === 'until-cancelled') {
                const { signal } = context;
                await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
                handlerSawCancel();
                throw new DomainError('unavailable', 'cancelled');
              }
              firmsAsked.push(request.firmId);
              await new Promise((resolve) => setTimeout(resolve, 200));
              if (context.signal.aborted) throw new DomainError('unavailable', 'cancelled');
              return { firm: { id: request.firmId } };
            },
          }),
        ),
      ],
    });
    const port = await server.start('127.0.0.1', 0);
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.stop(1000));

  test('a typed call carries the caller identity and returns the typed answer', async () => {
    const client = createServiceClient(DirectoryService, address);
    const response = await client.registerFirm({ name: 'Kantoor Peeters', language: 'nl' }, { caller: admin });
    expect(response.firm?.name).toBe('Kantoor Peeters');
    expect(response.adminStaffId).toBe('staff-9');
    expect(seen.at(-1)).toEqual(admin);
    client.close();
  });

  test('a domain refusal arrives as the same domain error, reason included', async () => {
    const client = createServiceClient(DirectoryService, address);
    const error = await client.registerFirm({ name: 'Taken' }, { caller: admin }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({
      kind: 'conflict',
      reason: 'firm_name_taken',
      message: 'a firm with this name exists',
    });
    client.close();
  });

  test('an unexpected failure is internal and its message does not leak', async () => {
    const client = createServiceClient(DirectoryService, address);
    const error = (await client
      .registerFirm({ name: 'Crash' }, { caller: admin })
      .catch((e: unknown) => e)) as DomainError;
    expect(error.kind).toBe('internal');
    expect(error.message).not.toContain('hunter2');
    client.close();
  });

  test('a deadline ends the call with deadline_exceeded', async () => {
    const client = createServiceClient(DirectoryService, address);
    const error = await client.getFirm({ firmId: 'f' }, { caller: admin, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'deadline_exceeded' });
    client.close();
  });

  test("the handler's abort signal fires when the client gives up on the call", async () => {
    const client = createServiceClient(DirectoryService, address);
    const leave = new AbortController();
    const seenByHandler = new Promise<void>((resolve) => (handlerSawCancel = resolve));
    const call = client.getFirm({ firmId: 'until-cancelled' }, { caller: admin, signal: leave.signal });
    setTimeout(() => leave.abort(), 50);
    await expect(call).rejects.toBeDefined();
    await seenByHandler;
    client.close();
  });

  test('a call whose caller has left already (its signal aborted before the call) is cancelled at once', async () => {
    const client = createServiceClient(DirectoryService, address);
    const leave = new AbortController();
    leave.abort();
    const started = Date.now();
    // without the cancel, the handler would answer after 200 ms
    // a cancelled call is a call that did not happen, as the gateway reports one whose service is gone
    await expect(
      client.getFirm({ firmId: 'never-asked' }, { caller: admin, signal: leave.signal }),
    ).rejects.toMatchObject({
      kind: 'unavailable',
      message: expect.stringMatching(/cancel/i),
    });
    expect(Date.now() - started).toBeLessThan(150);
    // nothing was sent: the service never heard of it
    await client.getFirm({ firmId: 'asked' }, { caller: admin });
    expect(firmsAsked.filter((id) => id.endsWith('asked'))).toEqual(['asked']);
    // also once the client is closed (the gateway shutting down): still cancelled, not a failure of the channel
    client.close();
    await expect(
      client.getFirm({ firmId: 'never-asked' }, { caller: admin, signal: leave.signal }),
    ).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/cancel/i) });
    expect(firmsAsked.filter((id) => id.endsWith('asked'))).toEqual(['asked']);
  });

  test('a call without caller identity is refused as unauthenticated', async () => {
    const grpc = await import('@grpc/grpc-js');
    const { grpcServiceDefinition } = await import('@kantoor/grpc');
    const Raw = grpc.makeClientConstructor(grpcServiceDefinition(DirectoryService), 'raw');
    const raw = new Raw(address, grpc.credentials.createInsecure()) as unknown as {
      registerFirm: (r: unknown, cb: (e: { code: number } | null) => void) => void;
      close(): void;
    };
    const error = await new Promise<{ code: number } | null>((resolve) => raw.registerFirm({ name: 'x' }, resolve));
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    raw.close();
  });

  test('health answers SERVING while running and NOT_SERVING once draining', async () => {
    await waitUntilServing(address, 'kantoor.directory.v1.DirectoryService', 1000);
    server.drain();
    await expect(waitUntilServing(address, 'kantoor.directory.v1.DirectoryService', 200)).rejects.toThrow(
      /not serving/,
    );
  });

  test("an unreachable service is reported as unavailable, without grpc-js's details (addresses) in the message", async () => {
    const client = createServiceClient(DirectoryService, '127.0.0.1:1', { timeoutMs: 500 });
    const error = await client.getFirm({ firmId: 'f' }, { caller: admin }).catch((thrown: DomainError) => thrown);
    client.close();
    expect(error).toMatchObject({
      kind: expect.stringMatching(/unavailable|deadline_exceeded/),
      message: expect.stringMatching(/^the service is not reachable \((UNAVAILABLE|DEADLINE_EXCEEDED)\)$/),
    });
    // what grpc-js said stays in the cause, for the log
    expect(String((error as DomainError).cause)).toMatch(/127\.0\.0\.1|ECONNREFUSED|Deadline|No connection/);
  });

  test('an unavailable error the service raised keeps its own message', async () => {
    const client = createServiceClient(DirectoryService, address, { timeoutMs: 5_000 });
    try {
      await expect(client.registerFirm({ name: 'Busy', language: 'nl' }, { caller: admin })).rejects.toMatchObject({
        kind: 'unavailable',
        reason: 'register_busy',
        message: 'Registrations are paused; try again in a minute.',
      });
    } finally {
      client.close();
    }
  });
});

describe('server-streaming calls', () => {
  let server: GrpcServer;
  let address: string;

  /** of each long download: whether its handler's `finally` ran (the object store's stream closed) */
  const longDownloads: Array<{ finished: boolean }> = [];

  beforeAll(async () => {
    ({ server, address } = await intakeServer({
      async *downloadDocument(request: { documentId: string }) {
        if (request.documentId === 'long') {
          const download = { finished: false };
          longDownloads.push(download);
          try {
            for (let i = 0; i < 2000; i++) yield { part: { case: 'chunk', value: new Uint8Array(64 * 1024) } };
          } finally {
            download.finished = true;
          }
          return;
        }
        if (request.documentId === 'missing')
          throw notFound('There is no such document.', { reason: 'document_not_found' });
        yield { part: { case: 'info', value: { fileName: 'a.pdf', contentType: 'application/pdf', size: 3n } } };
        yield { part: { case: 'chunk', value: new Uint8Array([1, 2, 3]) } };
        if (request.documentId === 'half') throw new Error('the object store went away');
      },
    }));
  });
  afterAll(() => server.stop(1000));

  const read = async (documentId: string) => {
    const client = createServiceClient(DocumentIntakeService, address, { timeoutMs: 5_000 });
    const parts: string[] = [];
    const started = Date.now();
    try {
      for await (const message of client.downloadDocument({ documentId }, { caller: admin }))
        parts.push(message.part.case ?? '');
      return { parts, error: undefined, ms: Date.now() - started };
    } catch (error) {
      return { parts, error: error as DomainError, ms: Date.now() - started };
    } finally {
      client.close();
    }
  };

  test('messages arrive in order and the stream ends', async () => {
    expect(await read('ok')).toMatchObject({ parts: ['info', 'chunk'], error: undefined });
  });

  test('a refusal before the first message reaches the client at once, as the same domain error', async () => {
    const { parts, error, ms } = await read('missing');
    expect(parts).toEqual([]);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({
      kind: 'not_found',
      reason: 'document_not_found',
      message: 'There is no such document.',
    });
    expect(ms).toBeLessThan(2_000);
  });

  test('a download cancelled while the server waits for the client to read on ends its handler, which closes what it opened', async () => {
    const client = createServiceClient(DocumentIntakeService, address, { timeoutMs: 30_000 });
    try {
      for (let k = 0; k < 5; k++) {
        const leave = new AbortController();
        const messages = client
          .downloadDocument({ documentId: 'long' }, { caller: admin, signal: leave.signal })
          [Symbol.asyncIterator]();
        await messages.next();
        // the client stops reading: the server's buffers fill and it waits for them to drain
        await new Promise((resolve) => setTimeout(resolve, 100));
        leave.abort();
        await messages.return?.().catch(() => undefined);
      }
      // 'drain' never comes for a cancelled call: the handlers waited for ever, each holding its source open
      const finished = await eventually(
        async () => longDownloads.map((download) => download.finished),
        (all) => all.every(Boolean),
      );
      expect(finished).toEqual(Array(5).fill(true));
    } finally {
      client.close();
    }
  });

  test('a failure half-way ends the stream with internal, not with a silent end', async () => {
    const { parts, error, ms } = await read('half');
    expect(parts).toEqual(['info', 'chunk']);
    expect(error).toMatchObject({ kind: 'internal' });
    expect(ms).toBeLessThan(2_000);
  });
});

describe('a client of a name with several addresses (a headless Service)', () => {
  const servers: GrpcServer[] = [];
  const served: number[] = [];

  beforeAll(async () => {
    for (const index of [0, 1]) {
      const server = new GrpcServer({
        logger: createLogger({ service: 'test', level: 'silent' }),
        services: [
          implement(
            DirectoryService,
            onlyTheseMethods({
              getFirm: async (request: { firmId: string }) => {
                served.push(index);
                return { firm: { id: request.firmId } };
              },
            }),
          ),
        ],
      });
      servers.push(server);
    }
  });
  afterAll(async () => {
    for (const server of servers) await server.stop();
  });

  it('spreads its calls over every address, not all to the first', async () => {
    const ports = [];
    for (const server of servers) ports.push(await server.start('127.0.0.1', 0));
    const client = createServiceClient(DirectoryService, `ipv4:${ports.map((port) => `127.0.0.1:${port}`).join(',')}`);
    try {
      for (let call = 0; call < 10; call++) await client.getFirm({ firmId: `firm-${call}` }, { caller: admin });
    } finally {
      client.close();
    }
    expect(served).toHaveLength(10);
    expect(served.filter((index) => index === 0).length).toBeGreaterThanOrEqual(3);
    expect(served.filter((index) => index === 1).length).toBeGreaterThanOrEqual(3);
  });
});

describe('client-streaming calls', () => {
  let server: GrpcServer;
  let address: string;
  /** what the service's handler saw of each upload: the chunks it read, and how the stream ended for it */
  const handled: { fileName: string; chunks: number; ended: 'reading' | 'whole' | 'broken'; cancelled: boolean }[] = [];

  beforeAll(async () => {
    ({ server, address } = await intakeServer({
      async uploadDocument(
        requests: AsyncIterable<{ part: { case?: string; value?: any } }>,
        context: { signal: AbortSignal },
      ) {
        const seen = { fileName: '', chunks: 0, ended: 'reading' as 'reading' | 'whole' | 'broken', cancelled: false };
        handled.push(seen);
        context.signal.addEventListener('abort', () => (seen.cancelled = true));
        try {
          for await (const { part } of requests) {
            if (part.case === 'header') {
              seen.fileName = part.value.fileName;
              if (seen.fileName === 'refused.pdf')
                throw invalidArgument('Not a document.', { reason: 'unsupported_type' });
            } else seen.chunks += 1;
          }
          seen.ended = 'whole';
        } catch (error) {
          seen.ended = 'broken';
          if (error instanceof DomainError) throw error;
          throw new DomainError('unavailable', 'the upload broke off');
        }
        return { document: { id: 'd-1', name: seen.fileName, size: BigInt(seen.chunks) } };
      },
    }));
  });
  afterAll(() => server.stop(1000));

  const header = (fileName: string) => ({
    part: { case: 'header', value: { dossierId: 'd', mailbox: 'purchase', fileName } },
  });
  const chunk = { part: { case: 'chunk', value: new Uint8Array(64 * 1024) } };
  /** a stream of a header and then `count` chunks, made as they are read; `made` counts them */
  const lazyUpload = (fileName: string, count: number) => {
    const made = { chunks: 0 };
    let headerMade = false;
    const stream = new Readable({
      objectMode: true,
      highWaterMark: 1,
      read() {
        if (!headerMade) {
          headerMade = true;
          this.push(header(fileName));
        } else if (made.chunks < count) {
          made.chunks += 1;
          this.push(chunk);
        } else this.push(null);
      },
    });
    return { stream, made };
  };
  const withClient = async <T>(run: (client: ServiceClient<typeof DocumentIntakeService>) => Promise<T>) => {
    const client = createServiceClient(DocumentIntakeService, address, { timeoutMs: 5_000 });
    try {
      return await run(client);
    } finally {
      client.close();
    }
  };

  test('a stream of messages arrives whole and in order, and the answer comes back', async () => {
    const { stream } = lazyUpload('whole.pdf', 40);
    const answer = await withClient((client) => client.uploadDocument(stream as never, { caller: admin }));
    expect(answer.document).toMatchObject({ name: 'whole.pdf', size: 40n });
    expect(handled.at(-1)).toMatchObject({ fileName: 'whole.pdf', chunks: 40, ended: 'whole' });
  });

  /**
   * What the service sees of it: node:http2 closes a stream by half-closing it first and resetting it after, so the
   * service's iteration may end as if the stream were whole (chunks: 3, ended: 'whole'), and the cancellation
   * follows. That is why an upload closes with an explicit `end` message (UploadDocumentRequest).
   */
  test('a source that fails half-way cancels the call: its error is the answer, and the service is cancelled', async () => {
    // a header and three chunks, then (once the service has read them) the source breaks off
    let step = 0;
    const stream = new Readable({
      objectMode: true,
      highWaterMark: 1,
      read() {
        step += 1;
        if (step === 1) this.push(header('half.pdf'));
        else if (step <= 4) this.push(chunk);
        else
          void eventually(
            async () => handled.at(-1)?.fileName === 'half.pdf' && handled.at(-1)?.chunks === 3,
            Boolean,
          ).then(() => this.destroy(new Error('the client aborted the upload')));
      },
    });
    await expect(withClient((client) => client.uploadDocument(stream as never, { caller: admin }))).rejects.toThrow(
      'the client aborted the upload',
    );
    await eventually(async () => handled.at(-1)?.cancelled, Boolean);
    expect(handled.at(-1)).toMatchObject({ fileName: 'half.pdf', chunks: 3, cancelled: true });
  });

  test('a refusal at the header is the answer at once, and the rest of the source is not read', async () => {
    const { stream, made } = lazyUpload('refused.pdf', 100_000);
    const started = Date.now();
    await expect(
      withClient((client) => client.uploadDocument(stream as never, { caller: admin })),
    ).rejects.toMatchObject({ kind: 'invalid_argument', reason: 'unsupported_type' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(stream.destroyed).toBe(true);
    // 100,000 chunks are 6.4 GB: only what was on its way when the refusal came was made
    expect(made.chunks).toBeLessThan(1_000);
  });

  test('an async iterable is sent as well, and is closed (its finally runs) when the call ends first', async () => {
    let closed = false;
    async function* messages(fileName: string) {
      try {
        yield header(fileName);
        for (let i = 0; i < 100_000; i++) yield chunk;
      } finally {
        closed = true;
      }
    }
    await expect(
      withClient((client) => client.uploadDocument(messages('refused.pdf') as never, { caller: admin })),
    ).rejects.toMatchObject({ kind: 'invalid_argument' });
    expect(await eventually(async () => closed, Boolean)).toBe(true);

    closed = false;
    const short = async function* () {
      yield header('short.pdf');
      yield chunk;
      yield chunk;
    };
    const answer = await withClient((client) => client.uploadDocument(short() as never, { caller: admin }));
    expect(answer.document).toMatchObject({ name: 'short.pdf', size: 2n });
  });
});

/** A server of the document-intake contract that implements only `methods`; it and its address, once it serves. */
async function intakeServer(methods: object) {
  const server = new GrpcServer({
    logger: createLogger({ service: 'test', level: 'silent' }),
    services: [implement(DocumentIntakeService, onlyTheseMethods(methods as never))],
  });
  return { server, address: `127.0.0.1:${await server.start('127.0.0.1', 0)}` };
}
