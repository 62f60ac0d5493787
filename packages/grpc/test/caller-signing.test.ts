import { onlyTheseMethods } from '@kantoor/testing';
import { createHmac } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import {
  CALLER_METADATA_KEY,
  CALLER_SIGNATURE_METADATA_KEY,
  createServiceClient,
  encodeCaller,
  grpcServiceDefinition,
  GrpcServer,
  implement,
  useCallerSigningKey,
  type Caller,
} from '@kantoor/grpc';

const KEY = 'the-platforms-caller-signing-key-0123456789';
const employee: Caller = { kind: 'staff', subjectId: 'staff-2', firmId: 'firm-1', role: 'employee', scopes: [] };
const admin: Caller = { ...employee, subjectId: 'staff-1', role: 'admin' };
const hmac = (key: string, bytes: Uint8Array) => createHmac('sha256', key).update(bytes).digest();

type RawCall = (request: unknown, metadata: grpc.Metadata, done: (error: grpc.ServiceError | null) => void) => void;

describe('the caller of a call is signed with the platform key, and a server refuses any other', () => {
  let server: GrpcServer;
  let address: string;
  const seen: Caller[] = [];
  let raw: { registerFirm: RawCall; close(): void };

  /** a call made without the Kantoor client: the metadata is exactly what the test puts in */
  const rawCall = (metadata: grpc.Metadata) =>
    new Promise<grpc.ServiceError | null>((resolve) =>
      raw.registerFirm({ name: 'Kantoor Peeters', language: 'nl' }, metadata, resolve),
    );
  const metadataOf = (caller: Caller, signature?: Buffer) => {
    const metadata = new grpc.Metadata();
    metadata.set(CALLER_METADATA_KEY, encodeCaller(caller));
    if (signature) metadata.set(CALLER_SIGNATURE_METADATA_KEY, signature);
    return metadata;
  };

  beforeAll(async () => {
    useCallerSigningKey(KEY);
    server = new GrpcServer({
      logger: createLogger({ service: 'test', level: 'silent' }),
      services: [
        implement(
          DirectoryService,
          // the other RPCs are not called here
          onlyTheseMethods({
            registerFirm: async (request: { name: string }, context: { caller: Caller }) => {
              seen.push(context.caller);
              return { firm: { id: 'firm-9', name: request.name }, adminStaffId: 'staff-9' };
            },
          }),
        ),
      ],
    });
    address = `127.0.0.1:${await server.start('127.0.0.1', 0)}`;
    const Raw = grpc.makeClientConstructor(grpcServiceDefinition(DirectoryService), 'raw');
    raw = new Raw(address, grpc.credentials.createInsecure()) as unknown as typeof raw;
  });
  afterAll(async () => {
    raw.close();
    await server.stop(1000);
    useCallerSigningKey(undefined);
  });
  beforeEach(() => (seen.length = 0));

  test("a Kantoor client's call is signed and reaches the handler with its caller", async () => {
    const client = createServiceClient(DirectoryService, address);
    try {
      await client.registerFirm({ name: 'Kantoor Peeters', language: 'nl' }, { caller: admin });
      expect(seen).toEqual([admin]);
    } finally {
      client.close();
    }
  });

  test('a caller signed with the key is accepted from any client (the signature is all that counts)', async () => {
    const bytes = encodeCaller(admin);
    expect(await rawCall(metadataOf(admin, hmac(KEY, bytes)))).toBeNull();
    expect(seen).toEqual([admin]);
  });

  test('each call carries its own request id beside the signed caller, whose bytes stay the same', async () => {
    const client = createServiceClient(DirectoryService, address);
    try {
      for (const requestId of ['request-1', 'request-2'])
        await client.registerFirm({ name: 'Kantoor Peeters', language: 'nl' }, { caller: { ...admin, requestId } });
    } finally {
      client.close();
    }
    expect(seen).toEqual([
      { ...admin, requestId: 'request-1' },
      { ...admin, requestId: 'request-2' },
    ]);
    expect(encodeCaller({ ...admin, requestId: 'request-1' })).toEqual(encodeCaller(admin));
  });

  test("a handler that changes its caller changes nobody else's", async () => {
    const bytes = encodeCaller(admin);
    expect(await rawCall(metadataOf(admin, hmac(KEY, bytes)))).toBeNull();
    seen[0].scopes.push('documents:write');
    seen[0].role = 'support';
    expect(await rawCall(metadataOf(admin, hmac(KEY, bytes)))).toBeNull();
    expect(seen[1]).toEqual(admin);
  });

  test('refused as unauthenticated, the handler never running: no signature, another key, another caller', async () => {
    // the admin's bytes were accepted just before: a server that remembers them still checks each signature
    expect(await rawCall(metadataOf(admin, hmac(KEY, encodeCaller(admin))))).toBeNull();
    seen.length = 0;
    const refusals = [
      // a pod that can reach the service names a firm's admin without any signature
      metadataOf(admin),
      // signed with a key that is not the platform's
      metadataOf(admin, hmac('someone-elses-key-of-more-than-32-bytes', encodeCaller(admin))),
      // an employee's signature reused for the admin
      metadataOf(admin, hmac(KEY, encodeCaller(employee))),
      // a truncated signature
      metadataOf(admin, hmac(KEY, encodeCaller(admin)).subarray(0, 16)),
    ];
    for (const metadata of refusals) {
      const error = await rawCall(metadata);
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(error?.details).toMatch(/not signed with the platform's caller signing key/);
    }
    expect(seen).toEqual([]);
  });

  test('a key shorter than 32 bytes is not taken', () => {
    expect(() => useCallerSigningKey('short-key')).toThrow(/at least 32 bytes/);
  });
});
