import '@kantoor/telemetry/register';
import path from 'node:path';
import { implement } from '@kantoor/grpc';
import { AccountingConnectorService } from '@kantoor/proto/kantoor/accounting_connector/v1/accounting_connector_pb';
import { defineService, runServiceMain } from '@kantoor/service-runtime';

// Synchronisation with accounting packages, Exact Online first; each connector scaled on its own.
export const accountingConnectorService = defineService({
  name: 'accounting-connector',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build() {
    return { grpc: [implement(AccountingConnectorService, {})] };
  },
});

if (require.main === module) void runServiceMain(accountingConnectorService);
