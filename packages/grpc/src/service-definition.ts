import type { DescMessage, DescMethod, DescService, MessageShape } from '@bufbuild/protobuf';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

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

const serializer = (schema: DescMessage) => (message: unknown) =>
  Buffer.from(
    toBinary(schema, isMessage(message) ? (message as MessageShape<DescMessage>) : create(schema, message as never)),
  );
const deserializer = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);

const isMessage = (value: unknown) => typeof value === 'object' && value !== null && '$typeName' in value;
