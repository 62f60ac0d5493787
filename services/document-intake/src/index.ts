export { createDocumentIntakeService, documentIntakeService, type DocumentIntakeOptions } from './main';
export { DownloadLinks, zipLayout } from './domain/hand-over';
