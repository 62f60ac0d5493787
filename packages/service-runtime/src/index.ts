export { clusterPlatform, embeddedPlatform, type EmbeddedPlatformOptions, type Platform } from './platform';
export {
  defineService,
  migrateService,
  startService,
  type RunningService,
  type ServiceContext,
  type ServiceDefinition,
  type ServiceParts,
} from './service';
export { serviceSecret, type ServiceSecretOptions } from './service-secret';
export { readOrCreateOwnerOnlyFile } from '@kantoor/config';
export { runServiceMain, type ServiceCommand } from './run-service-main';
export type { EventHandlers, HandledEvent } from '@kantoor/events';
export { handlerFor } from '@kantoor/events';
