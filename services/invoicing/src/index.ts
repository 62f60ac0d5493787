export { invoicingService } from './main';
