import { onlyTheseMethods } from '@kantoor/testing';
import { createHash } from 'node:crypto';
import { DomainError } from '@kantoor/errors';
import { createLogger } from '@kantoor/logging';
import { DocumentIntakeService } from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { createServiceClient, GrpcServer, implement, type Caller } from '@kantoor/grpc';
import { frameInPlace, inPlaceFraming, withRoomForFrame } from '../src/in-place-framing';

const admin: Caller = { kind: 'staff', subjectId: 's-1', firmId: 'f-1', role: 'admin', scopes: [] };

/** chunk sizes around the varint boundaries of the length and up to a full 256 KiB message */
const SIZES = [0, 1, 127, 128, 16_383, 16_384, 65_536, 256 * 1024];
const chunkOf = (size: number, seed: number) =>
  Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + seed) & 0xff));
const sha256 = (buffers: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const buffer of buffers) hash.update(buffer);
  return hash.digest('hex');
};

describe('gRPC frame header written in front of a file chunk, without copying it', () => {
  test('both sides of the installed grpc-js are wrapped (fails when an upgrade moves what is wrapped)', () => {
    expect(inPlaceFraming).toEqual({ client: true, server: true });
  });

  test('a message with room gets its header in the same memory, once; any other buffer gets none', () => {
    const message = withRoomForFrame(3);
    message.set([9, 8, 7]);
    const framed = frameInPlace(message)!;
    expect(framed.buffer).toBe(message.buffer);
    expect(framed.byteOffset).toBe(message.byteOffset - 5);
    expect([...framed]).toEqual([0, 0, 0, 0, 3, 9, 8, 7]);
    expect(frameInPlace(message)).toBeUndefined();
    expect(frameInPlace(Buffer.from([1, 2, 3]))).toBeUndefined();
    expect(frameInPlace(Buffer.alloc(300).subarray(5))).toBeUndefined();
  });

  describe('through a real call', () => {
    let server: GrpcServer;
    let address: string;
    const received: Buffer[] = [];

    beforeAll(async () => {
      server = new GrpcServer({
        logger: createLogger({ service: 'test', level: 'silent' }),
        services: [
          implement(
            DocumentIntakeService,
            onlyTheseMethods(
              {
                async uploadDocument(requests: AsyncIterable<{ part: { case?: string; value?: unknown } }>) {
                  for await (const request of requests)
                    if (request.part.case === 'chunk') received.push(Buffer.from(request.part.value as Uint8Array));
                  return { document: { id: 'd-1', name: sha256(received) } };
                },
                async *downloadDocument() {
                  yield { part: { case: 'info', value: { fileName: 'a.pdf', contentType: 'application/pdf' } } };
                  for (const [index, size] of SIZES.entries())
                    yield { part: { case: 'chunk', value: chunkOf(size, index) } };
                },
              },
              () => new DomainError('internal', 'not used in this test'),
            ),
          ),
        ],
      });
      address = `127.0.0.1:${await server.start('127.0.0.1', 0)}`;
    });
    afterAll(() => server.stop(1000));

    /**
     * The allocations of the size of a framed chunk message (5 + tag + length + bytes), sorted. Client and
     * server share this process, so each chunk has two: the encoder's (with the room in front) and the
     * receiver's (grpc-js joins the frame's pieces). Framing by copy would make a third.
     */
    const framedSizeAllocations = (chunkSizes: number[], run: () => Promise<void>) => {
      const copyLengths = new Set(chunkSizes.map(framedLength));
      const allocations: number[] = [];
      const spy = jest.spyOn(Buffer, 'allocUnsafe');
      return run()
        .then(() => {
          for (const [length] of spy.mock.calls) if (copyLengths.has(length)) allocations.push(length);
          return allocations.sort((a, b) => a - b);
        })
        .finally(() => spy.mockRestore());
    };

    test('an upload of chunks arrives byte for byte, and each chunk is framed where it was encoded', async () => {
      const client = createServiceClient(DocumentIntakeService, address, { timeoutMs: 5_000 });
      const chunks = SIZES.filter((size) => size > 200).map((size, index) => chunkOf(size, index + 1));
      received.length = 0;
      try {
        let answer: { document?: { name: string } } | undefined;
        const allocations = await framedSizeAllocations(
          chunks.map((chunk) => chunk.length),
          async () => {
            answer = await client.uploadDocument(
              (async function* () {
                yield { part: { case: 'header', value: { dossierId: 'd', mailbox: 'purchase', fileName: 'a.pdf' } } };
                for (const chunk of chunks) yield { part: { case: 'chunk', value: chunk } };
              })() as never,
              { caller: admin },
            );
          },
        );
        expect(answer?.document?.name).toBe(sha256(chunks));
        expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
        expect(allocations).toEqual(twiceEach(chunks.map((chunk) => framedLength(chunk.length))));
      } finally {
        client.close();
      }
    });

    test('a download of chunks of every size arrives byte for byte, and each chunk is framed where it was encoded', async () => {
      const client = createServiceClient(DocumentIntakeService, address, { timeoutMs: 5_000 });
      const parts: Buffer[] = [];
      try {
        const allocations = await framedSizeAllocations(
          SIZES.filter((size) => size > 200),
          async () => {
            for await (const message of client.downloadDocument({ documentId: 'x' }, { caller: admin }))
              if (message.part.case === 'chunk') parts.push(Buffer.from(message.part.value));
          },
        );
        expect(parts.map((part) => part.length)).toEqual(SIZES);
        expect(sha256(parts)).toBe(sha256(SIZES.map((size, index) => chunkOf(size, index))));
        expect(allocations).toEqual(twiceEach(SIZES.filter((size) => size > 200).map(framedLength)));
      } finally {
        client.close();
      }
    });
  });
});

const framedLength = (size: number) => 5 + 1 + varintLength(size) + size;
const twiceEach = (lengths: number[]) => [...lengths, ...lengths].sort((a, b) => a - b);

function varintLength(value: number): number {
  let length = 1;
  while (value > 0x7f) {
    value >>>= 7;
    length++;
  }
  return length;
}
