export { grpcServiceDefinition } from './service-definition';
export {
  GrpcServer,
  implement,
  type CallContext,
  type GrpcServerOptions,
  type GrpcServiceRegistration,
  type ServiceImpl,
} from './server';
export {
  createServiceClient,
  waitUntilServing,
  type CallOptionsKantoor,
  type ClientOptions,
  type ServiceClient,
} from './client';
export {
  CALLER_METADATA_KEY,
  CALLER_SIGNATURE_METADATA_KEY,
  REQUEST_ID_METADATA_KEY,
  MIN_CALLER_SIGNING_KEY_LENGTH,
  callerFromMetadata,
  setCallerMetadata,
  useCallerSigningKey,
  decodeCaller,
  encodeCaller,
  systemCaller,
  type Caller,
} from './caller';
export { fromGrpcError, toGrpcStatus } from './error-mapping';
export { atMost, coalesced } from './message-chunks';
