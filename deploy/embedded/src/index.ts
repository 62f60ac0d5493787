export { startEmbeddedServices, type DemoLogin, type EmbeddedOptions, type EmbeddedServices } from './start-embedded';
export { PLATFORM_SERVICES } from './platform-services';
