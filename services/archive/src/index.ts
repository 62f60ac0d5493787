export { archiveService } from './main';
