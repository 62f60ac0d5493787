import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import {
  DocumentIntakeService,
  DownloadDossierZipResponseSchema,
  UploadDocumentRequestSchema,
} from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { chunkEncoder, grpcServiceDefinition } from '../src/service-definition';

const serialize = (service: Parameters<typeof grpcServiceDefinition>[0], method: string, message: unknown) =>
  grpcServiceDefinition(service)[method].requestSerialize(message as never);

describe('file stream messages on the wire', () => {
  test.each([0, 1, 127, 128, 300, 256 * 1024, 16 * 1024 * 1024 - 10])(
    'a chunk of %i bytes is encoded exactly as toBinary encodes it',
    (size) => {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff);
      const message = create(UploadDocumentRequestSchema, { part: { case: 'chunk', value: bytes } });
      const encoded = chunkEncoder(UploadDocumentRequestSchema)!(message)!;
      expect(Buffer.compare(Buffer.from(encoded), Buffer.from(toBinary(UploadDocumentRequestSchema, message)))).toBe(0);
      const decoded = fromBinary(UploadDocumentRequestSchema, encoded);
      expect(decoded.part.case).toBe('chunk');
      expect(Buffer.from(decoded.part.value as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
    },
  );

  test('the header, the page marker and a download info still go through the generic encoder', () => {
    const encode = chunkEncoder(UploadDocumentRequestSchema)!;
    const header = create(UploadDocumentRequestSchema, {
      part: { case: 'header', value: { dossierId: 'd-1', mailbox: 'sales', fileName: 'a.pdf' } },
    });
    expect(encode(header)).toBeUndefined();
    expect(encode(create(UploadDocumentRequestSchema, { part: { case: 'nextPage', value: true } }))).toBeUndefined();
    expect(encode(create(UploadDocumentRequestSchema))).toBeUndefined();
    const wire = serialize(DocumentIntakeService, 'uploadDocument', header);
    expect(fromBinary(UploadDocumentRequestSchema, wire)).toEqual(header);
    const zip = chunkEncoder(DownloadDossierZipResponseSchema)!;
    expect(
      zip(create(DownloadDossierZipResponseSchema, { part: { case: 'info', value: { fileName: 'x.zip' } } })),
    ).toBeUndefined();
  });

  test('a message with fields outside a oneof has no chunk encoder', () => {
    expect(chunkEncoder(DirectoryService.method.registerFirm.input)).toBeUndefined();
  });

  test('the serialiser of the upload RPC sends a chunk that decodes to the same bytes, from a plain object too', () => {
    const bytes = Buffer.from('%PDF-1.4 a chunk of a file');
    const wire = serialize(DocumentIntakeService, 'uploadDocument', { part: { case: 'chunk', value: bytes } });
    const decoded = fromBinary(UploadDocumentRequestSchema, wire);
    expect(Buffer.from(decoded.part.value as Uint8Array).toString()).toBe(bytes.toString());
  });
});
