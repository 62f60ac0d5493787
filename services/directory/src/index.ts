export { createDirectoryService, directoryService } from './main';
export { directorySettings, readDirectoryConfig, type DirectoryConfig } from './config';
export { normaliseEnterpriseNumber } from './domain/enterprise-number';
