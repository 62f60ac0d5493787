export { startEmbeddedServices, type DemoLogin, type EmbeddedOptions, type EmbeddedServices } from './start-embedded';
export { startEmbeddedPlatform, type EmbeddedPlatform, type PlatformOptions } from './start-platform';
export { platformServices } from './platform-services';
