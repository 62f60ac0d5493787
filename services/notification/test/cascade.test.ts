import { randomUUID } from 'node:crypto';
import { ClientMessageSentSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { belgianNumber, startDirectory, type DirectoryFixture } from '../../directory/test/directory-fixture';
import { directoryDossierRecipients } from '../src/adapters/dossier-recipients';
import { admin as adminOf, deliverEvent, mailsIn, startNotification, type Harness } from './notification-harness';

describe('the communication cascade, asked of the real directory service', () => {
  let fx: DirectoryFixture;
  let h: Harness;
  beforeAll(async () => {
    fx = await startDirectory();
    h = await startNotification({ settings: { DIRECTORY_GRPC_ADDRESS: `127.0.0.1:${fx.service.port}` } });
  });
  afterAll(async () => {
    await h.stop();
    await fx.stop();
  });

  test('a message without a recipient goes to the file manager, then the client group, then the firm address as they are removed', async () => {
    const admin = await fx.registerFirm();
    const as = { caller: admin };
    const { clientGroup } = await fx.directory.createClientGroup({ name: 'Bouw', email: 'bouw@firm.example' }, as);
    const { dossier } = await fx.directory.createDossier(
      { name: 'Bakkerij Wim', country: 'BE', enterpriseNumber: belgianNumber(4242), language: 'fr' },
      as,
    );
    await fx.directory.activateDossier(
      { dossierId: dossier!.id, fileManagerId: admin.subjectId, clientGroupId: clientGroup!.id },
      as,
    );
    const firm = (await fx.directory.getFirm({ firmId: admin.firmId }, as)).firm!;

    const message = (subject: string) =>
      deliverEvent(h.transport, 'directory', ClientMessageSentSchema, {
        firmId: admin.firmId,
        dossierId: dossier!.id,
        dossierName: 'Bakkerij Wim',
        subject,
        body: 'Bonjour',
        language: 'fr',
      });
    await message('one');
    const [first] = await mailsIn(h.sink, 1);
    await fx.directory.assignDossier({ dossierId: dossier!.id, fileManagerId: '' }, as);
    await message('two');
    const [, second] = await mailsIn(h.sink, 2);
    await fx.directory.assignDossier({ dossierId: dossier!.id, clientGroupId: '' }, as);
    await message('three');
    const [, , third] = await mailsIn(h.sink, 3);

    expect([first, second, third].map((mail) => [mail.subject, mail.envelopeTo])).toEqual([
      ['Message de Bakkerij Wim : one', [admin.email]],
      ['Message de Bakkerij Wim : two', ['bouw@firm.example']],
      ['Message de Bakkerij Wim : three', [firm.functionalEmail]],
    ]);
    const { deliveries } = await h.client.listDeliveries({ kind: 'client_message' }, { caller: adminOf(admin.firmId) });
    expect(deliveries.map((d) => d.routedVia)).toEqual(['firm_address', 'client_group', 'file_manager']);
  });

  test("the adapter does not reveal another firm's dossier", async () => {
    const admin = await fx.registerFirm();
    const { dossier } = await fx.directory.createDossier(
      { name: 'Garage', country: 'BE', enterpriseNumber: belgianNumber(777), language: 'nl' },
      { caller: admin },
    );
    const recipients = directoryDossierRecipients(`127.0.0.1:${fx.service.port}`);
    try {
      await expect(recipients.resolve(admin.firmId, dossier!.id)).resolves.toMatchObject({ source: 'firm_address' });
      await expect(recipients.resolve(randomUUID(), dossier!.id)).rejects.toMatchObject({
        kind: expect.stringMatching(/not_found|permission_denied/),
      });
    } finally {
      recipients.close();
    }
  });
});
