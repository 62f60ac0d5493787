/**
 * E-mail intake from a polled IMAP mailbox (INTAKE_IMAP_*), for firms whose intake mail lands in a mailbox
 * rather than at the SMTP endpoint. Every poll takes each message of the mailbox in turn and stores it as the SMTP
 * endpoint would (see ../mail/intake-mail.ts); only then is the message moved to the processed mailbox, so that a
 * failure on the way leaves it where it was for the next poll. A message no dossier receives, or one over the size
 * limit, is moved to the refused mailbox (no one can be answered: the sender is not in the dialogue).
 *
 * The mailbox has no envelope: the addressed intake addresses are read from the headers a delivering server
 * writes (Delivered-To, X-Original-To, Envelope-To), else from To and Cc. The sender is the Return-Path (the
 * envelope sender, as the SMTP endpoint uses), else From.
 *
 * Each message taken is recorded (imap_message) in the transaction that stores its documents, so a message seen
 * again, because its move failed or two replicas polled at once, is moved on without being stored twice.
 * Replicas take turns through a lease (imap_poll_lease).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { ImapFlow } from 'imapflow';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import type { Logger } from '@kantoor/logging';
import { meter } from '@kantoor/telemetry';
import type { ObservableCallback } from '@opentelemetry/api';
import type { AccessTokens } from '../../adapters/client-credentials';
import type { Directory, IntakeAddress } from '../../adapters/directory';
import {
  forgetImapMessagesGone,
  imapOutcomeOf,
  recordImapMessage,
  releaseImapLease,
  takeImapLease,
  type ImapMessageKey,
  type ImapOutcome,
} from '../../data-access/imap-repository';
import type { IntakeStore } from '../../domain/receive-document';
import { messageUpTo, storeMail } from '../mail/intake-mail';

export interface ImapServer {
  host: string;
  port: number;
  security: 'tls' | 'starttls' | 'none';
  user: string;
  /** a password, or access tokens (OAuth 2.0: XOAUTH2 / OAUTHBEARER) */
  login: { password: string } | { tokens: AccessTokens };
}

export interface ImapIntakeOptions {
  intake: IntakeStore;
  directory: Directory;
  logger: Logger;
  knownFirms(): Promise<string[]>;
  server: ImapServer;
  mailbox: string;
  processedMailbox: string;
  refusedMailbox: string;
  pollSeconds: number;
}

/** What one poll did, by message. */
export interface ImapPollSummary {
  /** false: another replica holds the mailbox's lease, and nothing was read */
  polled: boolean;
  stored: number;
  /** taken before (stored or refused) and moved on again */
  alreadyTaken: number;
  refused: number;
  /** left in the mailbox for the next poll (the error is logged) */
  failed: number;
}

export interface ImapIntake {
  /** a poll now, after the one running (if any) */
  pollNow(): Promise<ImapPollSummary>;
  stop(): Promise<void>;
}

type Outcome = 'stored' | 'already_taken' | 'no_recipient' | 'too_large' | 'failed';

/** What SREs watch: messages by outcome, polls by outcome, and when a poll last went through (to alert on). */
function imapMetrics() {
  const m = meter('@kantoor/document-intake');
  return {
    messages: m.createCounter('kantoor.intake.imap.messages', {
      description: 'messages taken from the polled IMAP mailbox, by outcome',
    }),
    polls: m.createCounter('kantoor.intake.imap.polls', {
      description:
        'polls of the IMAP mailbox by outcome: ok, failed (could not connect, log in or read), skipped (another replica holds the mailbox)',
    }),
    lastSuccess: m.createObservableGauge('kantoor.intake.imap.last_success', {
      unit: 's',
      description: 'when this replica last polled the mailbox through, in seconds since 1970 (absent before its first)',
    }),
  };
}

/** Headers a delivering server writes with the envelope's recipient, most telling first. */
const ENVELOPE_HEADERS = ['delivered-to', 'x-original-to', 'envelope-to', 'x-envelope-to'];

export function startImapIntake(options: ImapIntakeOptions): ImapIntake {
  const { intake, logger, server } = options;
  const account = `${server.user}@${server.host}:${server.port}/${options.mailbox}`;
  const holder = `${os.hostname()}/${process.pid}/${randomUUID()}`;
  // a poll that outlasts its lease is renewed per message; a replica that died hands over after this
  const leaseSeconds = Math.max(300, options.pollSeconds * 3);
  const metrics = imapMetrics();
  let lastSuccess: number | undefined;
  const observeLastSuccess: ObservableCallback = (result) => {
    if (lastSuccess !== undefined) result.observe(lastSuccess / 1000);
  };
  metrics.lastSuccess.addCallback(observeLastSuccess);
  let stopping = false;
  let client: ImapFlow | undefined;
  let rounds: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  /** A poll, counted by outcome. */
  const countedPoll = async (): Promise<ImapPollSummary> => {
    try {
      const summary = await poll();
      metrics.polls.add(1, { 'kantoor.intake.imap.outcome': summary.polled ? 'ok' : 'skipped' });
      if (summary.polled) lastSuccess = Date.now();
      return summary;
    } catch (error) {
      metrics.polls.add(1, { 'kantoor.intake.imap.outcome': 'failed' });
      throw error;
    }
  };

  const inTurn = (): Promise<ImapPollSummary> => {
    const round = rounds.then(countedPoll);
    rounds = round.catch(() => undefined);
    return round;
  };

  /** A poll in turn, then the next one after the pause. */
  const scheduledPoll = () => {
    inTurn()
      .catch((error: unknown) => logger.error({ err: error, account }, 'IMAP intake poll failed'))
      .finally(() => {
        if (stopping) return;
        timer = setTimeout(scheduledPoll, options.pollSeconds * 1000);
        timer.unref();
      });
  };

  async function poll(): Promise<ImapPollSummary> {
    const summary: ImapPollSummary = { polled: false, stored: 0, alreadyTaken: 0, refused: 0, failed: 0 };
    if (stopping || !(await takeImapLease(intake.db, account, holder, leaseSeconds))) return summary;
    summary.polled = true;
    client = await connected();
    try {
      await ensureMailboxes(client, [options.processedMailbox, options.refusedMailbox]);
      const lock = await client.getMailboxLock(options.mailbox);
      try {
        const mailbox = client.mailbox;
        if (!mailbox) return summary;
        const messages = mailbox.exists === 0 ? [] : await client.fetchAll('1:*', { uid: true, size: true });
        // what the last polls moved on is gone now: its records have done their work
        await forgetImapMessagesGone(
          intake.db,
          account,
          mailbox.uidValidity,
          messages.map((message) => message.uid),
        );
        for (const message of messages) {
          if (stopping) break;
          const key: ImapMessageKey = { account, uidValidity: mailbox.uidValidity, uid: message.uid };
          const outcome = await take(client, key, message.size ?? 0).catch((error: unknown) => {
            logger.error({ err: error, account, uid: message.uid }, 'IMAP intake: message left for the next poll');
            return 'failed' as const;
          });
          metrics.messages.add(1, { 'kantoor.intake.imap.outcome': outcome });
          if (outcome === 'stored') summary.stored += 1;
          else if (outcome === 'already_taken') summary.alreadyTaken += 1;
          else if (outcome === 'failed') summary.failed += 1;
          else summary.refused += 1;
          await takeImapLease(intake.db, account, holder, leaseSeconds);
        }
      } finally {
        lock.release();
      }
      return summary;
    } finally {
      const closing = client;
      client = undefined;
      await closing.logout().catch(() => closing.close());
    }
  }

  /** A logged-in connection; with OAuth, a refused token is forgotten and a new one tried once. */
  async function connected(retried = false): Promise<ImapFlow> {
    const { login } = server;
    const imap = new ImapFlow({
      host: server.host,
      port: server.port,
      secure: server.security === 'tls',
      doSTARTTLS: server.security === 'starttls' ? true : server.security === 'none' ? false : undefined,
      auth:
        'tokens' in login
          ? { user: server.user, accessToken: await login.tokens.get() }
          : { user: server.user, pass: login.password },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: 30_000,
      greetingTimeout: 15_000,
      socketTimeout: 120_000,
      // a message is read up to the size limit (and then set aside), never held whole beyond it
      maxLiteralSize: intake.maxFileBytes + 64 * 1024,
    });
    imap.on('error', (error: unknown) => logger.warn({ err: error, account }, 'IMAP connection error'));
    try {
      await imap.connect();
      return imap;
    } catch (error) {
      imap.close();
      if ('tokens' in login && !retried && (error as { authenticationFailed?: boolean }).authenticationFailed) {
        // revoked or rotated before it expired
        login.tokens.forget();
        return connected(true);
      }
      throw error;
    }
  }

  /** Takes one message: stores it, or sets it aside; then moves it out of the polled mailbox. */
  async function take(imap: ImapFlow, key: ImapMessageKey, size: number): Promise<Outcome> {
    const before = await imapOutcomeOf(intake.db, key);
    if (before) {
      await moveOut(imap, key, before);
      return 'already_taken';
    }
    if (size > intake.maxFileBytes) return setAside(imap, key, 'too_large', `larger than ${intake.maxFileBytes} bytes`);
    const download = await imap.download(String(key.uid), undefined, { uid: true });
    if (!download.content) return 'already_taken'; // gone since the listing (another replica moved it)
    let mail: ParsedMail;
    try {
      mail = await simpleParser(messageUpTo(download.content, intake.maxFileBytes));
    } catch (error) {
      if ((error as { responseCode?: number }).responseCode === 552)
        return setAside(imap, key, 'too_large', `larger than ${intake.maxFileBytes} bytes`);
      throw error;
    }
    const recipients = await recipientsOf(mail);
    if (recipients.length === 0)
      return setAside(imap, key, 'no_recipient', 'no dossier receives mail at its addresses', mail.messageId);
    const stored = await storeMail(intake, recipients, senderOf(mail), mail, {
      claim: (tx) => recordImapMessage(tx, key, 'stored', mail.messageId),
    });
    await moveOut(imap, key, 'stored');
    return stored === 'stored' ? 'stored' : 'already_taken';
  }

  async function setAside(
    imap: ImapFlow,
    key: ImapMessageKey,
    outcome: Exclude<ImapOutcome, 'stored'>,
    reason: string,
    messageId?: string,
  ): Promise<Outcome> {
    await recordImapMessage(intake.db, key, outcome, messageId);
    logger.warn({ account, uid: key.uid, reason }, `IMAP intake: message moved to ${options.refusedMailbox}`);
    await moveOut(imap, key, outcome);
    return outcome;
  }

  /** A move that fails leaves the message for the next poll, which finds it taken and moves it again. */
  async function moveOut(imap: ImapFlow, key: ImapMessageKey, outcome: ImapOutcome) {
    const destination = outcome === 'stored' ? options.processedMailbox : options.refusedMailbox;
    const moved = await imap.messageMove(String(key.uid), destination, { uid: true });
    if (!moved) logger.warn({ account, uid: key.uid, destination }, 'IMAP intake: could not move the message');
  }

  /** The intake addresses the mail was delivered to: from the envelope headers, else from To and Cc. */
  async function recipientsOf(mail: ParsedMail): Promise<IntakeAddress[]> {
    const firms = await options.knownFirms();
    const resolve = async (addresses: string[]) => {
      const found = new Map<string, IntakeAddress>();
      const unique = [...new Set(addresses)];
      if (unique.length > MAX_RECIPIENTS_RESOLVED) {
        logger.warn(
          { account, addresses: unique.length, resolved: MAX_RECIPIENTS_RESOLVED },
          'IMAP intake: a message names more addresses than are looked up; only the first are',
        );
      }
      for (const address of unique.slice(0, MAX_RECIPIENTS_RESOLVED)) {
        const resolved = await options.directory.resolveIntakeAddress(address, firms);
        if (resolved) found.set(`${resolved.dossierId}/${resolved.mailbox ?? ''}`, resolved);
      }
      return [...found.values()];
    };
    const enveloped = await resolve(ENVELOPE_HEADERS.flatMap((name) => addressesIn(mail.headers.get(name))));
    if (enveloped.length > 0) return enveloped;
    return resolve([...addressesIn(mail.to), ...addressesIn(mail.cc)]);
  }

  // the first poll at once, ahead of any asked for
  scheduledPoll();
  return {
    pollNow: inTurn,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      // the message being stored is finished (at most a moment); a poll stuck on the network is cut off
      const grace = setTimeout(() => client?.close(), 10_000);
      await rounds;
      clearTimeout(grace);
      metrics.lastSuccess.removeCallback(observeLastSuccess);
      await releaseImapLease(intake.db, account, holder).catch(() => undefined);
    },
  };
}

/**
 * Creates the mailboxes not there yet. A mailbox the listing leaves out may exist all the same (not subscribed,
 * or made by another replica meanwhile): a refused CREATE is fine when STATUS then finds it.
 */
async function ensureMailboxes(client: ImapFlow, paths: string[]) {
  const listed = new Set((await client.list()).map((mailbox) => mailbox.path));
  for (const path of paths) {
    if (listed.has(path)) continue;
    try {
      await client.mailboxCreate(path);
    } catch (error) {
      if (!(await client.status(path, { messages: true }).catch(() => false))) throw error;
    }
  }
}

/** The sender as the SMTP endpoint would see it: the envelope sender a delivering server wrote, else From. */
function senderOf(mail: ParsedMail): string {
  const returnPath = addressesIn(mail.headers.get('return-path'))[0];
  return (returnPath ?? mail.from?.value[0]?.address ?? '').toLowerCase();
}

/**
 * The most addresses of one message looked up in the directory (one call each): the 100 recipients RFC 5321
 * asks a server to accept, so a message naming 100,000 cannot hold the poll for hours.
 */
export const MAX_RECIPIENTS_RESOLVED = 100;

/** The e-mail addresses in a header as mailparser gives it: address objects (or lists of them), or text. */
export function addressesIn(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.flatMap(addressesIn);
  if (typeof value === 'string') {
    return value
      .split(',')
      .map((part) => /<([^<>\s@]+@[^<>\s@]+)>/.exec(part)?.[1] ?? part.trim())
      .filter((address) => /^[^\s@<>]+@[^\s@<>]+$/.test(address))
      .map((address) => address.toLowerCase());
  }
  const list = (value as Partial<AddressObject>).value;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry) => [
    ...(entry.address ? [entry.address.toLowerCase()] : []),
    ...(entry.group ? addressesIn({ value: entry.group }) : []),
  ]);
}
