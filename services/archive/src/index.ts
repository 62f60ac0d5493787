export { archiveService, createArchiveService, type ArchiveOptions } from './main';
export { retainUntilFor, DEFAULT_RETENTION, type RetentionPolicy } from './domain/retention';
