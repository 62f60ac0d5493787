export { directoryService } from './main';
