import '@kantoor/telemetry/register';
import path from 'node:path';
import { implement } from '@kantoor/grpc';
import { InvoicingService } from '@kantoor/proto/kantoor/invoicing/v1/invoicing_pb';
import { defineService, runServiceMain } from '@kantoor/service-runtime';

// Customers, articles, subscriptions, invoice runs (test, then production), PDF and e-invoices (UBL / Peppol BIS 3.0), ZIP exports.
export const invoicingService = defineService({
  name: 'invoicing',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build() {
    return { grpc: [implement(InvoicingService, {})] };
  },
});

if (require.main === module) void runServiceMain(invoicingService);
