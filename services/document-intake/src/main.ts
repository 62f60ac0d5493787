import '@kantoor/telemetry/register';
import path from 'node:path';
import { implement } from '@kantoor/grpc';
import { DocumentIntakeService } from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { defineService, runServiceMain } from '@kantoor/service-runtime';

// Clients hand in purchase, sales and miscellaneous documents (PDF, JPEG, UBL) by upload, scan, API and e-mail; the accountant downloads and processes them.
export const documentIntakeService = defineService({
  name: 'document-intake',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build() {
    return { grpc: [implement(DocumentIntakeService, {})] };
  },
});

if (require.main === module) void runServiceMain(documentIntakeService);
