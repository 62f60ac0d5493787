import { randomUUID } from 'node:crypto';
import {
  AdditionalUserRequestedSchema,
  ClientMessageSentSchema,
  FirmRegisteredSchema,
  PortalUserAddedSchema,
  StaffInvitedSchema,
  VatDeclarationCompletedSchema,
} from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { startSmtpSink, type SmtpSink } from '@kantoor/smtp-sink';
import { eventually } from '@kantoor/testing';
import { findFirmProfile } from '../src/data-access/firm-repository';
import { admin, deliverEvent, mailsIn, settle, startNotification, type Harness } from './notification-harness';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

describe('notification: mails from directory events through a real SMTP server', () => {
  let h: Harness;
  const firmId = randomUUID();
  beforeAll(async () => {
    h = await startNotification();
    await deliverEvent(h.transport, 'directory', FirmRegisteredSchema, {
      firmId,
      name: 'Boekhouding Peeters',
      functionalEmail: 'kantoor@peeters.example',
      language: 'fr',
      adminStaffId: randomUUID(),
      adminEmail: 'an@peeters.example',
      adminName: 'An Peeters',
    });
  });
  afterAll(() => h.stop());
  beforeEach(() => h.sink.clear());

  test('an invited staff member receives one activation mail in the firm language, with link, HTML and text', async () => {
    const token = 'tok_' + randomUUID();
    const eventId = await deliverEvent(h.transport, 'directory', StaffInvitedSchema, {
      firmId,
      staffId: randomUUID(),
      name: 'Els Janssens',
      email: 'Els@Peeters.example',
      role: 'employee',
      activationToken: token,
      activationExpiresAt: timestampFromDate(new Date('2030-03-01T10:00:00Z')),
    });
    const [mail] = await mailsIn(h.sink, 1);
    expect(mail.envelopeTo).toEqual(['els@peeters.example']);
    expect(mail.subject).toBe('Activez votre compte chez Boekhouding Peeters');
    expect(mail.from).toBe('no-reply@kantoor.localhost');
    expect(mail.raw).toMatch(/^From: Boekhouding Peeters <no-reply@kantoor.localhost>/m);
    expect(mail.text).toContain('Bonjour Els Janssens,');
    expect(mail.text).toContain(`Activer le compte: https://kantoor.example/activate?token=${token}`);
    expect(mail.text).toContain('1 mars 2030');
    expect(mail.html).toContain(`href="https://kantoor.example/activate?token=${token}"`);
    expect(mail.headers['x-kantoor-firm']).toBe(firmId);

    const { deliveries } = await h.client.listDeliveries({}, { caller: admin(firmId) });
    const delivery = deliveries.find((d) => d.eventId === eventId)!;
    expect(delivery).toMatchObject({
      status: 'sent',
      kind: 'staff_activation',
      language: 'fr',
      attempts: 1,
      resent: false,
      routedVia: 'direct',
    });
    expect(`<${mail.messageId}>`).toBe(delivery.messageId);
    expect(delivery.smtpResponse).toMatch(/^250 /);
    // the token travels in the mail only: at rest it is sealed
    const { rows } = await h.service.db.query(
      'SELECT data::text AS data, sealed_data FROM notification WHERE event_id = $1',
      [eventId],
    );
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  test('a redelivered event does not send a second mail', async () => {
    const event = {
      firmId,
      staffId: randomUUID(),
      name: 'Jan',
      email: 'jan@peeters.example',
      role: 'support',
      activationToken: 't1',
    };
    const id = await deliverEvent(h.transport, 'directory', StaffInvitedSchema, event);
    await mailsIn(h.sink, 1);
    await deliverEvent(h.transport, 'directory', StaffInvitedSchema, event, id);
    await settle(200);
    expect(h.sink.messages()).toHaveLength(1);
  });

  test('a new portal user gets the activation mail in the dossier language with the intake addresses', async () => {
    await deliverEvent(h.transport, 'directory', PortalUserAddedSchema, {
      firmId,
      dossierId: randomUUID(),
      portalUserId: randomUUID(),
      email: 'ceo@bakkerij.example',
      name: 'Wim',
      dossierName: 'Bakkerij Wim',
      language: 'en',
      intakeAddresses: ['0123456789@in.peeters.example', 'purchase.0123456789@in.peeters.example'],
      activationToken: 'portal-token',
    });
    const [mail] = await mailsIn(h.sink, 1);
    expect(mail.subject).toBe('Your access to the client portal of Boekhouding Peeters');
    expect(mail.text).toContain('- 0123456789@in.peeters.example');
    expect(mail.text).toContain('https://kantoor.example/portal/activate?token=portal-token');
    expect(mail.html).toContain('<li>purchase.0123456789@in.peeters.example</li>');
  });

  test('client-to-firm messages reach the recipient the cascade found, in the dossier language', async () => {
    const dossierId = randomUUID();
    await deliverEvent(h.transport, 'directory', VatDeclarationCompletedSchema, {
      firmId,
      dossierId,
      dossierName: 'Bakkerij Wim',
      recipient: { email: 'filemanager@peeters.example', name: 'Els', source: 'file_manager' },
      language: 'nl',
    });
    await deliverEvent(h.transport, 'directory', ClientMessageSentSchema, {
      firmId,
      dossierId,
      dossierName: 'Bakkerij Wim',
      recipient: { email: 'team-a@peeters.example', source: 'client_group' },
      replyTo: 'ceo@bakkerij.example',
      subject: 'Vraag\r\nBcc: evil@example.com',
      body: 'Mag ik <b>dit</b> inbrengen?\nGroeten',
      language: 'nl',
    });
    await deliverEvent(h.transport, 'directory', AdditionalUserRequestedSchema, {
      firmId,
      dossierId,
      dossierName: 'Bakkerij Wim',
      recipient: { email: 'kantoor@peeters.example', source: 'firm' },
      requestedName: 'Sofie',
      requestedEmail: 'sofie@bakkerij.example',
      language: 'fr',
    });
    const [vat, message, request] = await mailsIn(h.sink, 3);
    expect(vat.envelopeTo).toEqual(['filemanager@peeters.example']);
    expect(vat.text).toContain(
      'Uw klant meldt dat alle documenten mbt de lopende BTW-periode werden ingediend voor het betreffende dossier.',
    );
    expect(message.envelopeTo).toEqual(['team-a@peeters.example']);
    expect(message.subject).toBe('Bericht van Bakkerij Wim: Vraag Bcc: evil@example.com');
    expect(message.raw).toMatch(/^Reply-To: ceo@bakkerij.example/m);
    expect(message.html).toContain('Mag ik &lt;b&gt;dit&lt;/b&gt; inbrengen?<br>Groeten');
    expect(message.text).toContain('> Mag ik <b>dit</b> inbrengen?');
    expect(request.envelopeTo).toEqual(['kantoor@peeters.example']);
    expect(request.subject).toBe("Demande d'un utilisateur supplémentaire pour Bakkerij Wim");
    const { deliveries } = await h.client.listDeliveries({ kind: 'client_message' }, { caller: admin(firmId) });
    expect(deliveries[0].routedVia).toBe('client_group');
    const { deliveries: requests } = await h.client.listDeliveries(
      { kind: 'additional_user_request' },
      { caller: admin(firmId) },
    );
    expect(requests[0].routedVia).toBe('firm_address');
  });

  test('a sender address of 200,000 dots is refused in moments, naming the field, and nothing is kept', async () => {
    const caller = admin(firmId);
    const before = await h.client.getSmtpSettings({}, { caller });
    const started = Date.now();
    await expect(
      h.client.setSmtpSettings(
        {
          host: 'smtp.peeters.example',
          port: 587,
          tls: 'starttls',
          username: 'mailer',
          password: 'pw',
          // a long run of dots made the address pattern try every split of it (quadratic)
          senderAddress: `mail@${'.'.repeat(200_000)}x y`,
          senderName: 'Kantoor Peeters',
        },
        { caller },
      ),
    ).rejects.toMatchObject({ kind: 'invalid_argument', violations: [{ field: 'senderAddress' }] });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await h.client.getSmtpSettings({}, { caller })).toEqual(before);
  });

  test("a firm's own SMTP server and logo are used for its mails; the password is never shown", async () => {
    const own: SmtpSink = await startSmtpSink();
    try {
      const caller = admin(firmId);
      const { settings } = await h.client.setSmtpSettings(
        {
          host: own.host,
          port: own.port,
          tls: 'none',
          username: 'mailer',
          password: 's3cret-pw',
          senderAddress: 'mail@peeters.example',
          senderName: 'Kantoor Peeters',
        },
        { caller },
      );
      expect(settings).toMatchObject({
        host: '127.0.0.1',
        hasPassword: true,
        senderAddress: 'mail@peeters.example',
        updatedBy: caller.subjectId,
      });
      expect(
        JSON.stringify(await h.client.getSmtpSettings({}, { caller }), (_key, value) =>
          typeof value === 'bigint' ? String(value) : value,
        ),
      ).not.toContain('s3cret-pw');
      const { rows } = await h.service.db.query('SELECT sealed_password FROM smtp_settings WHERE firm_id = $1', [
        firmId,
      ]);
      expect(rows[0].sealed_password).toMatch(/^v1\./);
      expect(rows[0].sealed_password).not.toContain('s3cret-pw');
      await h.client.setFirmLogo({ logo: PNG, contentType: 'image/png' }, { caller });

      await deliverEvent(h.transport, 'directory', StaffInvitedSchema, {
        firmId,
        staffId: randomUUID(),
        name: 'Lies',
        email: 'lies@peeters.example',
        role: 'employee',
        activationToken: 'x',
      });
      const [mail] = await mailsIn(own, 1);
      expect(mail.raw).toMatch(/^From: Kantoor Peeters <mail@peeters.example>/m);
      expect(mail.html).toContain('src="cid:firm-logo@kantoor"');
      expect(mail.attachments).toEqual([
        expect.objectContaining({ contentType: 'image/png', contentId: 'firm-logo@kantoor' }),
      ]);
      expect(h.sink.messages()).toHaveLength(0);

      // keeping the stored password when none is given, then back to the platform's server
      const kept = await h.client.setSmtpSettings(
        {
          host: own.host,
          port: own.port,
          tls: 'none',
          username: 'mailer',
          senderAddress: 'mail@peeters.example',
          senderName: '',
        },
        { caller },
      );
      expect(kept.settings?.hasPassword).toBe(true);
      await h.client.clearSmtpSettings({}, { caller });
      expect((await h.client.getSmtpSettings({}, { caller })).settings).toBeUndefined();
      await h.client.setFirmLogo({ logo: new Uint8Array(), contentType: '' }, { caller });
    } finally {
      await own.stop();
    }
  });

  test('who set or removed the logo and who removed the SMTP server is recorded; refusals record nothing', async () => {
    const firm = randomUUID();
    const [anna, bert] = [admin(firm), admin(firm)];
    const profile = async () => (await findFirmProfile(h.service.db, firm))!;
    const smtp = {
      host: 'smtp.example',
      port: 25,
      tls: 'none',
      username: '',
      senderAddress: 'a@b.example',
      senderName: '',
    };

    await h.client.setFirmLogo({ logo: PNG, contentType: 'image/png' }, { caller: anna });
    const set = await profile();
    expect(set).toMatchObject({ logo_updated_by: anna.subjectId, logo_content_type: 'image/png' });
    expect(set.logo_updated_at).toBeInstanceOf(Date);
    await expect(
      h.client.setFirmLogo({ logo: Buffer.from('GIF89a'), contentType: 'image/gif' }, { caller: bert }),
    ).rejects.toMatchObject({ reason: 'logo_type_not_supported' });
    await expect(
      h.client.setFirmLogo({ logo: new Uint8Array(), contentType: '' }, { caller: admin(firm, { role: 'employee' }) }),
    ).rejects.toMatchObject({ kind: 'permission_denied' });
    expect(await profile()).toMatchObject({ logo_updated_by: anna.subjectId, logo_updated_at: set.logo_updated_at });
    await h.client.setFirmLogo({ logo: new Uint8Array(), contentType: '' }, { caller: bert });
    expect(await profile()).toMatchObject({ logo: null, logo_updated_by: bert.subjectId });

    // removing a server the firm does not have changes nothing, so records nothing
    await h.client.clearSmtpSettings({}, { caller: anna });
    expect(await profile()).toMatchObject({ smtp_cleared_by: null, smtp_cleared_at: null });
    await h.client.setSmtpSettings(smtp, { caller: anna });
    await expect(h.client.clearSmtpSettings({}, { caller: admin(firm, { role: 'employee' }) })).rejects.toMatchObject({
      kind: 'permission_denied',
    });
    expect((await h.client.getSmtpSettings({}, { caller: anna })).settings).toMatchObject({
      updatedBy: anna.subjectId,
    });
    expect(await profile()).toMatchObject({ smtp_cleared_by: null });
    await h.client.clearSmtpSettings({}, { caller: bert });
    expect((await h.client.getSmtpSettings({}, { caller: anna })).settings).toBeUndefined();
    const cleared = await profile();
    expect(cleared.smtp_cleared_by).toBe(bert.subjectId);
    expect(cleared.smtp_cleared_at).toBeInstanceOf(Date);
    expect(cleared.logo_updated_by).toBe(bert.subjectId);
  });

  test('refuses SMTP settings and logos that cannot work, naming what is wrong', async () => {
    const caller = admin(firmId);
    await expect(
      h.client.setSmtpSettings(
        { host: 'smtp example', port: 0, tls: 'ssl', username: '', senderAddress: 'nobody', senderName: 'a\r\nBcc: x' },
        { caller },
      ),
    ).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'invalid_smtp_settings',
      violations: expect.arrayContaining([
        expect.objectContaining({ field: 'host' }),
        expect.objectContaining({ field: 'port' }),
        expect.objectContaining({ field: 'tls' }),
        expect.objectContaining({ field: 'senderAddress' }),
        expect.objectContaining({ field: 'senderName' }),
      ]),
    });
    await expect(
      h.client.setFirmLogo({ logo: Buffer.from('<svg/>'), contentType: 'image/png' }, { caller }),
    ).rejects.toMatchObject({ reason: 'logo_content_mismatch' });
    await expect(
      h.client.setFirmLogo({ logo: Buffer.from('GIF89a'), contentType: 'image/gif' }, { caller }),
    ).rejects.toMatchObject({ reason: 'logo_type_not_supported' });
    await expect(
      h.client.setFirmLogo(
        { logo: Buffer.concat([PNG, Buffer.alloc(300 * 1024)]), contentType: 'image/png' },
        { caller },
      ),
    ).rejects.toMatchObject({ reason: 'logo_too_large' });
    expect((await h.client.getSmtpSettings({}, { caller })).settings).toBeUndefined();
  });

  test('only admins of the firm read the log and change settings; another firm sees nothing', async () => {
    const eventId = await deliverEvent(h.transport, 'directory', StaffInvitedSchema, {
      firmId,
      staffId: randomUUID(),
      name: 'P',
      email: 'p@peeters.example',
      role: 'employee',
      activationToken: 'y',
    });
    const [row] = await eventually(
      async () => (await h.service.db.query('SELECT id FROM notification WHERE event_id = $1', [eventId])).rows,
      (rows) => rows.length > 0,
    );
    const employee = admin(firmId, { role: 'employee' });
    await expect(h.client.listDeliveries({}, { caller: employee })).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'admin_only',
    });
    await expect(
      h.client.setSmtpSettings(
        { host: 'smtp.example', port: 25, tls: 'none', username: '', senderAddress: 'a@b.example', senderName: '' },
        { caller: employee },
      ),
    ).rejects.toMatchObject({ kind: 'permission_denied' });
    await expect(
      h.client.listDeliveries({}, { caller: admin(firmId, { kind: 'portal_user', role: undefined }) }),
    ).rejects.toMatchObject({ kind: 'permission_denied' });
    const otherFirm = admin(randomUUID());
    expect((await h.client.listDeliveries({}, { caller: otherFirm })).deliveries).toEqual([]);
    await expect(h.client.getDelivery({ deliveryId: row.id }, { caller: otherFirm })).rejects.toMatchObject({
      kind: 'not_found',
    });
    const own = await h.client.getDelivery({ deliveryId: row.id }, { caller: admin(firmId) });
    expect(own.delivery?.eventId).toBe(eventId);
  });

  test('the delivery log pages newest first and filters by status', async () => {
    const caller = admin(firmId);
    const first = await h.client.listDeliveries({ pageSize: 2 }, { caller });
    expect(first.deliveries).toHaveLength(2);
    expect(first.nextCursor).not.toBe('');
    expect(first.nextPageToken).toBe(first.nextCursor);
    const second = await h.client.listDeliveries({ pageSize: 2, cursor: first.nextCursor }, { caller });
    expect(second.deliveries[0].createdAt!.seconds <= first.deliveries[1].createdAt!.seconds).toBe(true);
    expect(second.deliveries.map((d) => d.id)).not.toContain(first.deliveries[0].id);
    const failed = await h.client.listDeliveries({ status: 'failed' }, { caller });
    expect(failed.deliveries.every((d) => d.status === 'failed')).toBe(true);
    await expect(h.client.listDeliveries({ status: 'lost' }, { caller })).rejects.toMatchObject({
      reason: 'invalid_status',
    });
    // the deprecated name of the cursor still leads to the same page
    const byToken = await h.client.listDeliveries({ pageSize: 2, pageToken: first.nextPageToken }, { caller });
    expect(byToken.deliveries.map((d) => d.id)).toEqual(second.deliveries.map((d) => d.id));
    for (const cursor of [
      'garbage',
      Buffer.from(JSON.stringify(['2026-01-01T10:00:00.000Z', randomUUID()])).toString('base64url'),
    ])
      await expect(h.client.listDeliveries({ cursor }, { caller })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_cursor',
      });
    await expect(
      h.client.listDeliveries({ cursor: first.nextCursor, pageToken: first.nextCursor }, { caller }),
    ).rejects.toMatchObject({
      kind: 'invalid_argument',
      violations: [expect.objectContaining({ field: 'pageToken' })],
    });
  });

  // a cursor keeping created_at as a JavaScript Date (milliseconds) started the next page before the rows of the
  // same millisecond and skipped them
  test('mails logged microseconds apart page one at a time without gaps or repeats', async () => {
    const quietFirm = randomUUID();
    const ids = [1, 2, 3, 4].map(() => randomUUID());
    for (const [n, id] of ids.entries())
      await h.service.db.query(
        `INSERT INTO notification (id, event_id, kind, firm_id, recipient, language, status, message_id, created_at)
         VALUES ($1, $2, 'staff_activation', $3, 'x@firm.example', 'nl', 'failed', $4, $5)`,
        [id, `event-${id}`, quietFirm, `<${id}@test>`, `2026-03-01 10:00:00.12345${n}+00`],
      );
    const listed: string[] = [];
    let cursor = '';
    for (let pages = 0; pages < 10; pages++) {
      const page = await h.client.listDeliveries({ pageSize: 1, cursor }, { caller: admin(quietFirm) });
      listed.push(...page.deliveries.map((d) => d.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(listed).toEqual([...ids].reverse());
  });
});
