export {
  startEmbeddedServices,
  type DemoLogin,
  type EmbeddedOptions,
  type EmbeddedServices,
  type ServiceThread,
} from './start-embedded';
export { startEmbeddedPlatform, type EmbeddedPlatform, type PlatformOptions } from './start-platform';
export { PLATFORM_SERVICES } from './service-list';
