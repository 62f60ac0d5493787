/**
 * E-mail intake from a polled IMAP mailbox, against a real IMAP server (hoodiecrow) that mail is appended to as a
 * delivering server would: what is stored, where each message goes, and that a message is stored once.
 */
import { generateKeyPairSync, verify } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import hoodiecrow from 'hoodiecrow-imap';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer';
import { ConfigError } from '@kantoor/config';
import { createLogger } from '@kantoor/logging';
import { startService } from '@kantoor/service-runtime';
import { hasAttributes, recordTelemetry, type RecordedTelemetry } from '@kantoor/testing';
import { createDocumentIntakeService } from '../src';
import type { IntakeConfig } from '../src/config';
import { directoryOver } from '../src/adapters/directory';
import { releaseImapLease, takeImapLease } from '../src/data-access/imap-repository';
import {
  clientCredentialsTokens,
  parseServiceAccountKey,
  serviceAccountTokens,
} from '../src/adapters/client-credentials';
import { MAX_RECIPIENTS_RESOLVED, startImapIntake, type ImapServer } from '../src/entry-points/imap/intake-imap-poller';
import { storeMail } from '../src/entry-points/mail/intake-mail';
import {
  expectNothingStoredBy,
  intakeState,
  pdf,
  startIntake,
  whileDocumentRefused,
  type IntakeHarness,
} from './intake-harness';

const USER = 'intake@peeters.example';
const SECOND_USER = 'intake-tweede@peeters.example';
const PASSWORD = 'imap-geheim';
/** a mailbox of Exchange Online, say, reached with an access token (the test server shares one store for all) */
const OAUTH_USER = 'intake-oauth@peeters.example';
const LIMIT = 256 * 1024;
const PROCESSED = 'Kantoor processed';
const REFUSED = 'Kantoor refused';

let telemetry: RecordedTelemetry;
let imapServer: ReturnType<typeof hoodiecrow>;
let port: number;
let h: IntakeHarness;
let account: string;

beforeAll(async () => {
  // before the service starts: the poller takes its counter then
  telemetry = recordTelemetry();
  imapServer = hoodiecrow({
    plugins: [
      'ID',
      'NAMESPACE',
      'IDLE',
      'ENABLE',
      'LITERALPLUS',
      'UNSELECT',
      'SPECIAL-USE',
      'MOVE',
      'UIDPLUS',
      'SASL-IR',
      'XOAUTH2',
    ],
    users: {
      [USER]: { password: PASSWORD },
      // a second login to the same mailbox: a poller of a test's own holds a lease of its own
      [SECOND_USER]: { password: PASSWORD },
      [OAUTH_USER]: { xoauth2: { accessToken: 'token-1' } },
    },
    storage: { INBOX: { messages: [] }, '': { separator: '/', folders: {} } },
  });
  await new Promise<void>((resolve) => imapServer.listen(0, '127.0.0.1', resolve));
  port = (imapServer.server.address() as AddressInfo).port;
  account = `${USER}@127.0.0.1:${port}/INBOX`;
  h = await startIntake({
    settings: {
      INTAKE_IMAP_HOST: '127.0.0.1',
      INTAKE_IMAP_PORT: port,
      INTAKE_IMAP_SECURITY: 'none',
      INTAKE_IMAP_USER: USER,
      INTAKE_IMAP_PASSWORD: PASSWORD,
      // the tests poll when they choose
      INTAKE_IMAP_POLL_SECONDS: 3600,
      INTAKE_MAX_FILE_BYTES: LIMIT,
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.stop();
  await telemetry?.stop();
  await new Promise<void>((resolve) => imapServer?.close(() => resolve()));
});

/** A session with the test server as the firm's mail program would open one. */
async function mailbox<T>(work: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: USER, pass: PASSWORD },
    logger: false,
    disableAutoIdle: true,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.logout();
  }
}

const raw = (mail: Mail.Options) => new MailComposer(mail).compile().build();

/** Puts a message in the polled mailbox, as the firm's mail server delivers one. */
const deliver = async (mail: Mail.Options) => {
  const message = await raw(mail);
  return mailbox((client) => client.append('INBOX', message));
};

/** How many messages each mailbox holds. */
const counts = () =>
  mailbox(async (client) => {
    const count = async (path: string) => {
      const status = await client.status(path, { messages: true });
      return status ? (status.messages ?? 0) : 0;
    };
    const names = (await client.list()).map((entry) => entry.path);
    return {
      inbox: await count('INBOX'),
      processed: names.includes(PROCESSED) ? await count(PROCESSED) : 0,
      refused: names.includes(REFUSED) ? await count(REFUSED) : 0,
    };
  });

/** A poller of its own beside the service's, on the service's database and store; polled when the test says. */
const pollerFor = (server: ImapServer) =>
  startImapIntake({
    intake: { db: h.service.db, store: h.objects, eventsWritten: () => undefined, maxFileBytes: LIMIT },
    directory: directoryOver(h.fx.directory),
    logger: createLogger({ service: 'document-intake', level: 'silent' }),
    knownFirms: async () => [h.admin.firmId],
    server,
    mailbox: 'INBOX',
    processedMailbox: PROCESSED,
    refusedMailbox: REFUSED,
    pollSeconds: 3600,
  });

const address = (mailbox = '') => `${h.enterpriseNumber}${mailbox && `.${mailbox}`}@${h.intakeDomain}`;

/** A mail to the dossier's purchase address with one PDF named after it. */
const mailNamed = async (name: string) => ({
  from: 'iemand@elders.example',
  to: address('purchase'),
  subject: name,
  attachments: [{ filename: `${name}.pdf`, content: await pdf() }],
});

/** A token endpoint on this machine answering each form posted to `path` with `answer`'s status and JSON. */
async function tokenEndpoint(path: string, answer: (form: URLSearchParams) => [number, object]) {
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const [status, json] = answer(new URLSearchParams(body));
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}` };
}

/** One poll by a poller of its own (its first, which runs at once), stopped after. */
const pollOnce = async (server: ImapServer) => {
  const poller = pollerFor(server);
  try {
    await poller.pollNow();
  } finally {
    await poller.stop();
  }
};

const documentsNamed = async (search: string) =>
  (await h.client.listDocuments({ dossierId: h.dossierId, search }, { caller: h.portal })).documents;

describe('e-mail intake from a polled IMAP mailbox', () => {
  it("stores every attachment of a mail delivered to a dossier's address, then moves it to the processed mailbox", async () => {
    const before = await counts();
    // forwarded by the client: To is the client's own address, the delivering server wrote the intake address
    await deliver({
      from: 'Leverancier <facturen@leverancier.example>',
      to: 'klant@bakkerij.example',
      subject: 'Facturen november',
      text: 'In bijlage',
      headers: { 'Delivered-To': address('purchase') },
      attachments: [
        { filename: 'imap-a.pdf', content: await pdf() },
        { filename: 'imap-b.pdf', content: await pdf(2) },
      ],
    });
    expect(await h.imap!.pollNow()).toEqual({ polled: true, stored: 1, alreadyTaken: 0, refused: 0, failed: 0 });
    const documents = await documentsNamed('imap-');
    expect(documents.map((doc) => [doc.name, doc.mailbox, doc.channel, doc.status, doc.senderEmail]).sort()).toEqual([
      ['imap-a', 'purchase', 'email', 'draft', 'facturen@leverancier.example'],
      ['imap-b', 'purchase', 'email', 'draft', 'facturen@leverancier.example'],
    ]);
    expect(await counts()).toEqual({ inbox: 0, processed: before.processed + 1, refused: before.refused });
    // nothing left to take: the next poll stores nothing
    expect(await h.imap!.pollNow()).toMatchObject({ polled: true, stored: 0, alreadyTaken: 0 });
    expect(await documentsNamed('imap-')).toHaveLength(2);
  });

  it("takes the envelope sender (Return-Path) as the sender, so a whitelisted supplier's document is sent at once", async () => {
    await deliver({
      from: 'Leverancier <noreply@facturatie.example>',
      to: address('purchase'),
      subject: 'Factuur',
      headers: { 'Return-Path': '<Boekhouding@Leverancier.example>' },
      attachments: [{ filename: 'imap-auto.pdf', content: await pdf() }],
    });
    expect(await h.imap!.pollNow()).toMatchObject({ stored: 1 });
    const [document] = await documentsNamed('imap-auto');
    expect(document).toMatchObject({ status: 'sent', senderEmail: 'boekhouding@leverancier.example' });
  });

  it('reads To and Cc when no envelope header names an intake address; the general address leaves it unsorted', async () => {
    await deliver({
      from: 'iemand@elders.example',
      to: 'iemand-anders@elders.example',
      cc: `Bakkerij <${address()}>`,
      subject: 'Kasticket',
      attachments: [{ filename: 'imap-unsorted.pdf', content: await pdf() }],
    });
    expect(await h.imap!.pollNow()).toMatchObject({ stored: 1, refused: 0 });
    const [document] = await documentsNamed('imap-unsorted');
    expect(document).toMatchObject({ mailbox: '', status: 'draft', senderEmail: 'iemand@elders.example' });
  });

  it('looks up at most 100 addresses of a message, and reads a hostile address header in linear time', async () => {
    await deliver({
      from: 'iemand@elders.example',
      to: 'iemand-anders@elders.example',
      cc: address(),
      subject: 'Veel adressen',
      headers: {
        'Delivered-To': Array.from({ length: 250 }, (_, i) => `niemand-${i}@${h.intakeDomain}`).join(', '),
        // many '@' (200 KB, within the size limit) and no '>': each '<' was a start that read on to the end (40 s for 256 KB)
        'X-Original-To': `<${'a@'.repeat(100_000)}`,
      },
      attachments: [{ filename: 'imap-many-addresses.pdf', content: await pdf() }],
    });
    const started = Date.now();
    const directory = directoryOver(h.fx.directory);
    const lookedUp: string[] = [];
    const poller = startImapIntake({
      intake: { db: h.service.db, store: h.objects, eventsWritten: () => undefined, maxFileBytes: LIMIT },
      directory: {
        ...directory,
        resolveIntakeAddress: (address, firms) => (
          lookedUp.push(address),
          directory.resolveIntakeAddress(address, firms)
        ),
      },
      logger: createLogger({ service: 'document-intake', level: 'silent' }),
      knownFirms: async () => [h.admin.firmId],
      server: {
        host: '127.0.0.1',
        port,
        security: 'none',
        user: SECOND_USER,
        login: { password: PASSWORD },
      },
      mailbox: 'INBOX',
      processedMailbox: PROCESSED,
      refusedMailbox: REFUSED,
      pollSeconds: 3600,
    });
    try {
      // its first poll runs at once; this one waits for it
      await poller.pollNow();
    } finally {
      await poller.stop();
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    // the envelope's first 100, then To and Cc, where the dossier's address is
    expect(lookedUp).toHaveLength(MAX_RECIPIENTS_RESOLVED + 2);
    expect(lookedUp.slice(-1)).toEqual([address()]);
    expect(await documentsNamed('imap-many-addresses')).toHaveLength(1);
  });

  it('moves a mail no dossier receives, and one over the size limit, to the refused mailbox and stores nothing', async () => {
    const before = await counts();
    await deliver({
      from: 'iemand@elders.example',
      to: `9999999999.purchase@${h.intakeDomain}`,
      subject: 'Verkeerd adres',
      attachments: [{ filename: 'imap-wrong.pdf', content: await pdf() }],
    });
    await deliver({
      from: 'iemand@elders.example',
      to: address('purchase'),
      subject: 'Te groot',
      attachments: [{ filename: 'imap-large.pdf', content: Buffer.alloc(LIMIT, 'x') }],
    });
    await expectNothingStoredBy(
      async () =>
        expect(await h.imap!.pollNow()).toEqual({ polled: true, stored: 0, alreadyTaken: 0, refused: 2, failed: 0 }),
      h,
    );
    expect(await counts()).toEqual({ inbox: 0, processed: before.processed, refused: before.refused + 2 });
    const { rows } = await h.service.db.query<{ outcome: string }>(
      "SELECT outcome FROM imap_message WHERE outcome <> 'stored' ORDER BY uid",
    );
    expect(rows.map((row) => row.outcome)).toEqual(['no_recipient', 'too_large']);
    // what an SRE sees: messages taken, by outcome
    const counted = async (outcome: string) =>
      (await telemetry.points('kantoor.intake.imap.messages')).find((point) =>
        hasAttributes(point.attributes, { 'kantoor.intake.imap.outcome': outcome }),
      )?.value;
    expect([await counted('no_recipient'), await counted('too_large')]).toEqual([1, 1]);
    expect(await counted('stored')).toBeGreaterThanOrEqual(3);
    // polls gone through, and when the last one did: what an alert on a stuck intake reads
    const polls = await telemetry.points('kantoor.intake.imap.polls');
    expect(
      polls.find((point) => hasAttributes(point.attributes, { 'kantoor.intake.imap.outcome': 'ok' }))?.value,
    ).toBeGreaterThanOrEqual(4);
    const [last] = await telemetry.points('kantoor.intake.imap.last_success');
    expect(Math.abs((last.value as number) - Date.now() / 1000)).toBeLessThan(30);
  });

  it('leaves a mail whose storing fails in the mailbox, and the next poll stores each attachment once', async () => {
    await deliver({
      from: 'iemand@elders.example',
      to: address('sales'),
      subject: 'Drie facturen',
      attachments: [
        { filename: 'imap-reeks-1.pdf', content: await pdf() },
        { filename: 'imap-reeks-2.pdf', content: await pdf() },
        { filename: 'imap-reeks-3.pdf', content: await pdf() },
      ],
    });
    // the database refuses the second document
    await whileDocumentRefused(h, 'imap-reeks-2', async () => {
      await expectNothingStoredBy(
        async () => expect(await h.imap!.pollNow()).toMatchObject({ stored: 0, failed: 1 }),
        h,
      );
      expect((await counts()).inbox).toBe(1);
    });
    expect(await h.imap!.pollNow()).toMatchObject({ stored: 1, failed: 0 });
    expect((await documentsNamed('imap-reeks-')).map((doc) => doc.name).sort()).toEqual([
      'imap-reeks-1',
      'imap-reeks-2',
      'imap-reeks-3',
    ]);
    expect((await counts()).inbox).toBe(0);
  });

  it('moves a message taken before (its move failed, or another replica stored it) on without storing it again', async () => {
    await deliver({
      from: 'iemand@elders.example',
      to: address('misc'),
      subject: 'Al genomen',
      attachments: [{ filename: 'imap-taken.pdf', content: await pdf() }],
    });
    const [message] = await mailbox(async (client) => {
      await client.mailboxOpen('INBOX');
      return client.fetchAll('1:*', { uid: true });
    });
    const uidValidity = await mailbox(async (client) => (await client.mailboxOpen('INBOX')).uidValidity);
    await h.service.db.query(
      "INSERT INTO imap_message (account, uid_validity, uid, outcome) VALUES ($1, $2, $3, 'stored')",
      [account, uidValidity.toString(), message.uid],
    );
    const before = await counts();
    await expectNothingStoredBy(
      async () => expect(await h.imap!.pollNow()).toMatchObject({ stored: 0, alreadyTaken: 1 }),
      h,
    );
    expect(await counts()).toEqual({ inbox: 0, processed: before.processed + 1, refused: before.refused });
    // the message is gone from the mailbox: the next poll forgets its record (and every other one of messages gone)
    await h.imap!.pollNow();
    const { rows } = await h.service.db.query('SELECT uid FROM imap_message WHERE account = $1', [account]);
    expect(rows).toEqual([]);
  });

  it('stores nothing, and keeps no file, when the claim in the storing transaction says the mail was stored before', async () => {
    const mail = await simpleParser(
      await raw({
        from: 'iemand@elders.example',
        to: address('purchase'),
        subject: 'Tweemaal',
        attachments: [{ filename: 'imap-twice.pdf', content: await pdf() }],
      }),
    );
    const intake = { db: h.service.db, store: h.objects, eventsWritten: () => undefined, maxFileBytes: LIMIT };
    const recipient = { firmId: h.admin.firmId, dossierId: h.dossierId, mailbox: 'purchase' as const, whitelist: [] };
    let outcome: string | undefined;
    await expectNothingStoredBy(async () => {
      outcome = await storeMail(intake, [recipient], 'iemand@elders.example', mail, { claim: async () => false });
    }, h);
    expect(outcome).toBe('already-stored');
    const before = await intakeState(h);
    expect(await storeMail(intake, [recipient], 'iemand@elders.example', mail, { claim: async () => true })).toBe(
      'stored',
    );
    expect((await intakeState(h)).documents).toBe(before.documents + 1);
  });

  it('refuses to log in without STARTTLS when the settings require it, and leaves the mail where it is', async () => {
    await deliver({ from: 'iemand@elders.example', to: address('purchase'), subject: 'Wacht', text: 'x' });
    // another account, so that this poller does not wait for the service's lease
    const poller = pollerFor({
      host: '127.0.0.1',
      port,
      security: 'starttls',
      user: 'starttls@peeters.example',
      login: { password: PASSWORD },
    });
    try {
      await expect(poller.pollNow()).rejects.toThrow(/STARTTLS/);
    } finally {
      await poller.stop();
    }
    const failedPolls = (await telemetry.points('kantoor.intake.imap.polls')).find((point) =>
      hasAttributes(point.attributes, { 'kantoor.intake.imap.outcome': 'failed' }),
    );
    // its first poll (at once) and the one asked for
    expect(failedPolls?.value).toBe(2);
    expect((await counts()).inbox).toBe(1);
    // the service's own poller takes it (a mail with neither attachment nor HTML is recorded as refused there)
    expect(await h.imap!.pollNow()).toMatchObject({ stored: 1 });
  });

  it('lets one replica poll a mailbox at a time, and hands over when it stops or its lease runs out', async () => {
    await h.imap!.pollNow();
    expect(await takeImapLease(h.service.db, account, 'another replica', 300)).toBe(false);
    await h.imap!.stop();
    expect(await h.imap!.pollNow()).toMatchObject({ polled: false });
    expect(await takeImapLease(h.service.db, account, 'another replica', 300)).toBe(true);
    expect(await takeImapLease(h.service.db, account, 'a third replica', 300)).toBe(false);
    await h.service.db.query("UPDATE imap_poll_lease SET expires_at = now() - interval '1 second'");
    expect(await takeImapLease(h.service.db, account, 'a third replica', 300)).toBe(true);
    await releaseImapLease(h.service.db, account, 'a third replica');
  });
});

describe('e-mail intake from an IMAP mailbox reached with OAuth 2.0 (client credentials, as Exchange Online has it)', () => {
  let tokenServer: http.Server;
  let tokenUrl: string;
  const tokenRequests: URLSearchParams[] = [];
  /** the token the endpoint hands out now */
  let issuing = 'token-1';
  beforeAll(async () => {
    ({ server: tokenServer, url: tokenUrl } = await tokenEndpoint('/tenant/oauth2/v2.0/token', (form) => {
      tokenRequests.push(form);
      if (form.get('grant_type') !== 'client_credentials' || form.get('client_secret') !== 'client-secret')
        return [401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret.' }];
      return [200, { access_token: issuing, token_type: 'Bearer', expires_in: 3599 }];
    }));
  });
  afterAll(() => new Promise<void>((resolve) => tokenServer.close(() => resolve())));

  const oauthServer = (clientSecret: string): ImapServer => ({
    host: '127.0.0.1',
    port,
    security: 'none',
    user: OAUTH_USER,
    login: {
      tokens: clientCredentialsTokens({
        tokenUrl,
        clientId: 'kantoor-intake',
        clientSecret,
        scope: 'https://outlook.office365.com/.default',
      }),
    },
  });

  it('logs in with a token of the grant, kept between polls; a token the server stops taking is replaced at once', async () => {
    const poller = pollerFor(oauthServer('client-secret'));
    try {
      // its first poll, on an empty mailbox, ran at once; this one after it
      expect(await poller.pollNow()).toMatchObject({ polled: true, stored: 0, failed: 0 });
      await deliver(await mailNamed('imap-oauth-1'));
      expect(await poller.pollNow()).toEqual({ polled: true, stored: 1, alreadyTaken: 0, refused: 0, failed: 0 });
      expect(tokenRequests.map((form) => Object.fromEntries(form))).toEqual([
        {
          grant_type: 'client_credentials',
          client_id: 'kantoor-intake',
          client_secret: 'client-secret',
          scope: 'https://outlook.office365.com/.default',
        },
      ]);
      expect(await poller.pollNow()).toMatchObject({ polled: true, stored: 0 });
      expect(tokenRequests).toHaveLength(1);
      // the tenant's admin revokes it: the server takes only a new one, which the endpoint hands out
      imapServer.users[OAUTH_USER].xoauth2 = { accessToken: 'token-2' };
      issuing = 'token-2';
      await deliver(await mailNamed('imap-oauth-2'));
      expect(await poller.pollNow()).toEqual({ polled: true, stored: 1, alreadyTaken: 0, refused: 0, failed: 0 });
      expect(tokenRequests).toHaveLength(2);
      expect((await documentsNamed('imap-oauth-')).map((doc) => doc.name).sort()).toEqual([
        'imap-oauth-1',
        'imap-oauth-2',
      ]);
    } finally {
      await poller.stop();
    }
  });

  it('asks for a new token a minute before the kept one expires; callers at the same moment share one request', async () => {
    let now = 1_000_000;
    const tokens = clientCredentialsTokens(
      {
        tokenUrl,
        clientId: 'kantoor-intake',
        clientSecret: 'client-secret',
        scope: 'https://outlook.office365.com/.default',
      },
      () => now,
    );
    const before = tokenRequests.length;
    const [first, second] = await Promise.all([tokens.get(), tokens.get()]);
    expect(first).toBe(second);
    expect(tokenRequests).toHaveLength(before + 1);
    // it came with expires_in 3599: kept until 60 s before
    now += 3_538_000;
    await tokens.get();
    expect(tokenRequests).toHaveLength(before + 1);
    now += 2_000;
    await tokens.get();
    expect(tokenRequests).toHaveLength(before + 2);
  });

  it("fails a poll whose client the endpoint refuses, naming the endpoint's error, and leaves the mail", async () => {
    await deliver(await mailNamed('imap-oauth-3'));
    const refused = pollerFor(oauthServer('an old secret'));
    try {
      await expect(refused.pollNow()).rejects.toThrow(/answered 401 \(invalid_client: AADSTS7000215/);
    } finally {
      await refused.stop();
    }
    expect((await counts()).inbox).toBe(1);
    // with the right secret it is taken
    await pollOnce(oauthServer('client-secret'));
    expect((await counts()).inbox).toBe(0);
    expect(await documentsNamed('imap-oauth-3')).toHaveLength(1);
  });
});

describe('e-mail intake from a Google Workspace mailbox reached with a service account (JWT bearer grant)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let tokenServer: http.Server;
  let tokenUri: string;
  const assertions: Array<{ header: Record<string, unknown>; claims: Record<string, unknown>; valid: boolean }> = [];
  /** the mailboxes the account may act for (domain-wide delegation, as a Workspace admin grants it) */
  const delegated = new Set([OAUTH_USER]);
  beforeAll(async () => {
    ({ server: tokenServer, url: tokenUri } = await tokenEndpoint('/token', (form) => {
      const [header, claims, signature] = (form.get('assertion') ?? '').split('.');
      const decode = (part = '') => JSON.parse(Buffer.from(part, 'base64url').toString() || '{}');
      const signed = Buffer.from(`${header}.${claims}`);
      const valid = verify('sha256', signed, publicKey, Buffer.from(signature ?? '', 'base64url'));
      const assertion = { header: decode(header), claims: decode(claims), valid };
      assertions.push(assertion);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || !valid)
        return [400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }];
      if (!delegated.has(String(assertion.claims.sub)))
        return [
          401,
          {
            error: 'unauthorized_client',
            error_description: 'Client is unauthorized to retrieve access tokens using this method.',
          },
        ];
      return [200, { access_token: imapServer.users[OAUTH_USER].xoauth2!.accessToken, expires_in: 3599 }];
    }));
  });
  afterAll(() => new Promise<void>((resolve) => tokenServer.close(() => resolve())));

  /** A JSON key file as Google Cloud's console downloads it. */
  const keyFile = () =>
    JSON.stringify({
      type: 'service_account',
      project_id: 'kantoor-peeters',
      private_key_id: 'b1f2c3',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'intake@kantoor-peeters.iam.gserviceaccount.com',
      client_id: '1234567890',
      token_uri: tokenUri,
    });
  const googleServer = (user: string): ImapServer => ({
    host: '127.0.0.1',
    port,
    security: 'none',
    user,
    login: { tokens: serviceAccountTokens(parseServiceAccountKey(keyFile()), user) },
  });

  it("logs in as the mailbox's user with a token for the account's signed assertion, and stores the mail", async () => {
    await deliver(await mailNamed('imap-google-1'));
    await pollOnce(googleServer(OAUTH_USER));
    expect(await documentsNamed('imap-google-1')).toHaveLength(1);
    const [{ header, claims, valid }] = assertions;
    expect(valid).toBe(true);
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'b1f2c3' });
    expect(claims).toMatchObject({
      iss: 'intake@kantoor-peeters.iam.gserviceaccount.com',
      sub: OAUTH_USER,
      scope: 'https://mail.google.com/',
      aud: tokenUri,
    });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(3600);
    expect(Math.abs(Number(claims.iat) - Date.now() / 1000)).toBeLessThan(60);
  });

  it("fails a poll for a mailbox the account may not act for, naming Google's error, and leaves the mail", async () => {
    await deliver(await mailNamed('imap-google-2'));
    const refused = pollerFor(googleServer('iemand-anders@peeters.example'));
    try {
      await expect(refused.pollNow()).rejects.toThrow(/answered 401 \(unauthorized_client: Client is unauthorized/);
    } finally {
      await refused.stop();
    }
    expect((await counts()).inbox).toBe(1);
    await pollOnce(googleServer(OAUTH_USER));
    expect(await documentsNamed('imap-google-2')).toHaveLength(1);
  });

  it('refuses to start without a key file, or with one it cannot use, naming what is wrong and never the key', async () => {
    const start = (key?: string) =>
      startService(
        createDocumentIntakeService({
          directory: directoryOver(h.fx.directory),
          settings: {
            INTAKE_IMAP_HOST: 'imap.gmail.com',
            INTAKE_IMAP_AUTH: 'google-service-account',
            INTAKE_IMAP_USER: 'intake@peeters.example',
            INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY: key,
            INTAKE_LINK_SECRET: 'x'.repeat(40),
          },
        }),
        h.platform,
        { host: '127.0.0.1', port: 0 },
      ).then(
        () => 'started',
        (error: Error) => error.message,
      );
    expect(await start()).toContain(
      'INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY is required when INTAKE_IMAP_HOST is set and INTAKE_IMAP_AUTH is google-service-account',
    );
    expect(await start('{"type": "service_account", "private_key": "geheim-123"')).toContain(
      'INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY is not a JSON key file of a service account (it is not JSON)',
    );
    const withoutKey = await start(JSON.stringify({ ...JSON.parse(keyFile()), private_key: 'geheim-123' }));
    expect(withoutKey).toContain('INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY has no readable "private_key" (PEM)');
    expect(withoutKey).not.toContain('geheim-123');
    const plainHttp = JSON.stringify({ ...JSON.parse(keyFile()), token_uri: 'http://oauth2.googleapis.com/token' });
    expect(await start(plainHttp)).toContain(
      'INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY has a "token_uri" that is not https',
    );
  });
});

describe('IMAP settings', () => {
  it('refuse to start with a server but without its user name and password, naming both', async () => {
    const started = startService(
      createDocumentIntakeService({
        directory: directoryOver(h.fx.directory),
        settings: { INTAKE_IMAP_HOST: 'imap.peeters.example', INTAKE_LINK_SECRET: 'x'.repeat(40) },
      }),
      h.platform,
      { host: '127.0.0.1', port: 0 },
    );
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(
      /INTAKE_IMAP_USER is required when INTAKE_IMAP_HOST is set[\s\S]*INTAKE_IMAP_PASSWORD is required/,
    );
  });

  it('with oauth2, refuse to start without the token endpoint and client, or with a token endpoint not on https', async () => {
    const start = (settings: Partial<IntakeConfig>) =>
      startService(
        createDocumentIntakeService({
          directory: directoryOver(h.fx.directory),
          settings: {
            INTAKE_IMAP_HOST: 'outlook.office365.com',
            INTAKE_IMAP_AUTH: 'oauth2',
            INTAKE_IMAP_USER: 'intake@peeters.example',
            INTAKE_LINK_SECRET: 'x'.repeat(40),
            ...settings,
          },
        }),
        h.platform,
        { host: '127.0.0.1', port: 0 },
      );
    const missing = await start({}).catch((error: Error) => error.message);
    for (const name of [
      'INTAKE_IMAP_OAUTH_TOKEN_URL',
      'INTAKE_IMAP_OAUTH_CLIENT_ID',
      'INTAKE_IMAP_OAUTH_CLIENT_SECRET',
    ])
      expect(missing).toContain(`${name} is required when INTAKE_IMAP_HOST is set and INTAKE_IMAP_AUTH is oauth2`);
    expect(missing).not.toContain('INTAKE_IMAP_PASSWORD');
    await expect(
      start({
        INTAKE_IMAP_OAUTH_TOKEN_URL: 'http://login.microsoftonline.com/tenant/oauth2/v2.0/token',
        INTAKE_IMAP_OAUTH_CLIENT_ID: 'kantoor-intake',
        INTAKE_IMAP_OAUTH_CLIENT_SECRET: 'secret',
      }),
    ).rejects.toThrow('INTAKE_IMAP_OAUTH_TOKEN_URL must be an https URL: the client secret is sent to it');
  });
});
