export { accountingConnectorService } from './main';
