/**
 * The directory's access facts, kept in the process that checks access (the gateway before routing, a service
 * on every call naming a dossier) so that an access check costs no gRPC call. The gateway forgets a firm's
 * facts itself, synchronously, when a request changed something in the directory
 * (`forgetAfterDirectoryChanges`), so a change counts from the next request; every process forgets them on
 * every event the directory publishes for that firm (`forgetOnDirectoryEvents`), which covers changes made
 * through another replica. The TTL only bounds what a lost event could leave behind.
 */
import type { AccessFacts, FetchAccessFacts } from '@kantoor/access-policy';
import { decodeEnvelope, topicOf, type EventTransport, type Subscription } from '@kantoor/events';

export interface AccessFactsCacheOptions {
  /** entries kept at most; the least recently used go first */
  maxEntries?: number;
  /** an entry older than this is fetched again, events or not */
  ttlMs?: number;
  now?: () => number;
}

interface Entry {
  facts: AccessFacts;
  generation: number;
  expiresAt: number;
}

export interface AccessFactsCache {
  fetch: FetchAccessFacts;
  /** drops every entry of the firm, including fetches in flight that began before */
  forgetFirm(firmId: string): void;
  forgetAll(): void;
  readonly size: number;
}

export function cacheAccessFacts(
  fetchFacts: FetchAccessFacts,
  options: AccessFactsCacheOptions = {},
): AccessFactsCache {
  const maxEntries = options.maxEntries ?? 10_000;
  const ttlMs = options.ttlMs ?? 30_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  // a fetch answered after its firm was forgotten may describe the state before the change: not kept
  const firmGenerations = new Map<string, number>();
  let everyFirm = 0;
  const generationOf = (firmId: string) => everyFirm + (firmGenerations.get(firmId) ?? 0);

  return {
    async fetch(query) {
      const key = `${query.firmId}|${query.dossierId ?? ''}|${query.subject.kind}|${query.subject.id}`;
      const generation = generationOf(query.firmId);
      const entry = entries.get(key);
      if (entry) {
        entries.delete(key);
        if (entry.generation === generation && entry.expiresAt > now()) {
          entries.set(key, entry); // most recently used goes last
          return entry.facts;
        }
      }
      const facts = await fetchFacts(query);
      // a dossier not found is not kept: it may be created by the next request
      if (facts && generationOf(query.firmId) === generation) {
        entries.set(key, { facts, generation, expiresAt: now() + ttlMs });
        if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      }
      return facts;
    },
    forgetFirm(firmId) {
      firmGenerations.set(firmId, (firmGenerations.get(firmId) ?? 0) + 1);
    },
    forgetAll() {
      everyFirm += 1;
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}

/** Directory RPCs that change nothing; every other one may change someone's access. */
const READS = /^(get|list|resolve|verify|waitUntilServing$|close$)/;

/**
 * The directory client, forgetting the caller's firm after every call that may change access (also when it
 * failed: a deadline may pass after the change committed). Calls without a firm (activation links) forget
 * every firm.
 */
export function forgetAfterDirectoryChanges<Client extends object>(client: Client, cache: AccessFactsCache): Client {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property !== 'string' || typeof value !== 'function' || READS.test(property)) return value;
      return async (request: unknown, options?: { caller?: { firmId?: string } }) => {
        try {
          return await (value as (request: unknown, options: unknown) => Promise<unknown>).call(
            target,
            request,
            options,
          );
        } finally {
          const firmId = options?.caller?.firmId;
          if (firmId) cache.forgetFirm(firmId);
          else cache.forgetAll();
        }
      };
    },
  });
}

/**
 * Forgets a firm's facts on every directory event of that firm (any of them may follow an access change:
 * DossierAccessChanged, StaffRoleChanged, StaffRemoved, DossierStatusChanged, ...). Each process needs every
 * event, so each subscribes with a group of its own (e.g. `gateway-<hostname>` on Kafka); a new group starts at
 * the newest event, since a process that starts has nothing to forget.
 */
export function forgetOnDirectoryEvents(
  transport: EventTransport,
  groupId: string,
  cache: AccessFactsCache,
): Promise<Subscription> {
  return transport.subscribe({
    groupId,
    topics: [topicOf('directory')],
    newGroupStartsAt: 'latest',
    handler: async (record) => {
      const firmId = decodeEnvelope(record.value).firmId;
      if (firmId) cache.forgetFirm(firmId);
      else cache.forgetAll();
    },
  });
}
