export { backupService } from './main';
