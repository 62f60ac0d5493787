export { notificationService } from './main';
