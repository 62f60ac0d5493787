import type { DescMessage, DescMethod, DescService, MessageShape } from '@bufbuild/protobuf';
import { create, fromBinary, ScalarType, toBinary } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { withRoomForFrame } from './in-place-framing';

/**
 * The one bridge between protoc-gen-es descriptors and @grpc/grpc-js: a grpc-js service definition whose
 * (de)serialisers are the generated schemas, so no second code generator and no proto loading at run time.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = methodDefinition(service, method);
  }
  return definition as ServiceDefinition;
}

function methodDefinition(service: DescService, method: DescMethod): MethodDefinition<unknown, unknown> {
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
    responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
    requestSerialize: serializer(method.input),
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output),
    responseDeserialize: deserializer(method.output),
    originalName: method.localName,
  };
}

function serializer(schema: DescMessage) {
  const asChunk = chunkEncoder(schema);
  return (message: unknown) => {
    const shaped = isMessage(message) ? (message as MessageShape<DescMessage>) : create(schema, message as never);
    const chunk = asChunk?.(shaped);
    // a chunk's buffer goes out as it is: its frame header is written in front of it (in-place-framing.ts)
    if (chunk) return chunk;
    const encoded = toBinary(schema, shaped);
    // a view of the encoded bytes, not one more copy of them
    return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  };
}
const deserializer = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);

const isMessage = (value: unknown) => typeof value === 'object' && value !== null && '$typeName' in value;

/**
 * The messages of a file stream (a oneof of a header and a `bytes chunk`) carry a chunk of up to a few hundred
 * KiB each. toBinary copies those bytes twice (into its writer's buffer, then into the joined result), and each
 * copy is a fresh large allocation awaiting GC; here the field's tag and length are written in front of the
 * bytes in a single copy. Only for messages made of one oneof whose set member is a bytes field (no other
 * field can be set then); every other message goes through toBinary.
 */
export function chunkEncoder(
  schema: DescMessage,
): ((message: MessageShape<DescMessage>) => Buffer | undefined) | undefined {
  const [oneof, ...more] = schema.oneofs;
  if (!oneof || more.length > 0 || schema.fields.some((field) => field.oneof !== oneof)) return undefined;
  const tags = new Map<string, number>();
  for (const field of oneof.fields)
    if (field.fieldKind === 'scalar' && field.scalar === ScalarType.BYTES)
      tags.set(field.localName, (field.number << 3) | 2);
  if (tags.size === 0) return undefined;
  return (message) => {
    const part = (message as Record<string, unknown>)[oneof.localName] as { case?: string; value?: unknown };
    const tag = part?.case === undefined ? undefined : tags.get(part.case);
    const unknown = (message as { $unknown?: unknown[] }).$unknown;
    if (tag === undefined || (unknown && unknown.length > 0)) return undefined;
    const bytes = part.value as Uint8Array;
    const head = [...varint(tag), ...varint(bytes.byteLength)];
    // with room for the gRPC frame header in front, so that grpc-js sends it without copying it again
    const encoded = withRoomForFrame(head.length + bytes.byteLength);
    encoded.set(head, 0);
    encoded.set(bytes, head.length);
    return encoded;
  };
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return bytes;
}
