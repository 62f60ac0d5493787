import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { FirmRegisteredSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { DownloadLinkRequestedSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { deliverEvent, mailsIn, startNotification, type Harness } from './notification-harness';

describe('notification: the download link a staff member asked for in document intake', () => {
  let h: Harness;
  const firmId = randomUUID();
  beforeAll(async () => {
    h = await startNotification();
    await deliverEvent(h.transport, 'directory', FirmRegisteredSchema, {
      firmId,
      name: 'Boekhouding Peeters',
      functionalEmail: 'kantoor@peeters.example',
      language: 'nl',
      adminStaffId: randomUUID(),
      adminEmail: 'an@peeters.example',
      adminName: 'An Peeters',
    });
  });
  afterAll(() => h.stop());

  test('arrives once, in the firm language, naming the dossier, with the signed link and its expiry', async () => {
    const link = `https://kantoor.example/v1/document-downloads/${randomUUID()}.signature`;
    const event = {
      firmId,
      dossierId: randomUUID(),
      staffId: randomUUID(),
      recipientEmail: 'els@peeters.example',
      link,
      expiresAt: timestampFromDate(new Date('2030-03-01T10:00:00Z')),
      documentCount: 12,
      dossierName: 'Bakkerij Janssens',
      dossierCode: 'JANS-01',
    };
    await deliverEvent(h.transport, 'document-intake', DownloadLinkRequestedSchema, event);
    const [mail] = await mailsIn(h.sink, 1);
    expect(mail.envelopeTo).toEqual(['els@peeters.example']);
    expect(mail.subject).toBe('Documenten van Bakkerij Janssens (JANS-01) klaar om te downloaden');
    expect(mail.text).toContain('12 te verwerken documenten van Bakkerij Janssens (JANS-01) staan klaar');
    expect(mail.text).toContain(link);
    expect(mail.text).toContain('1 maart 2030');
    // the link is a credential: it is not kept readable in the delivery log's data
    const { rows } = await h.service.db.query(
      `SELECT data::text AS data FROM notification WHERE recipient = 'els@peeters.example'`,
    );
    expect(rows[0].data).not.toContain(link);
  });
});
