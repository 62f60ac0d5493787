export { documentIntakeService } from './main';
