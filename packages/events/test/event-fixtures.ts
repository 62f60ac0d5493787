import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';
import type { Database, Queryable } from '@kantoor/database';
import { FirmRegisteredSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { appendEvent } from '../src/append-event';
import type { EventRecord, EventTransport, SubscribeOptions } from '../src/transport';

/** What OpenTelemetry's async-hooks context manager does, so the active trace survives awaits in tests. */
export class AsyncContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

export const quietLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** The effect a test consumer has: one row per welcomed firm, in the order the consumer handled them. */
export const WELCOME_TABLE = `CREATE TABLE welcomed (
  handled_order serial PRIMARY KEY,
  event_id text NOT NULL,
  firm_id text NOT NULL,
  dossier_id text NOT NULL,
  name text NOT NULL
)`;

export async function welcome(tx: Queryable, eventId: string, firmId: string, dossierId: string, name: string) {
  await tx.query('INSERT INTO welcomed (event_id, firm_id, dossier_id, name) VALUES ($1, $2, $3, $4)', [
    eventId,
    firmId,
    dossierId,
    name,
  ]);
}

export async function welcomedRows(db: Queryable) {
  const { rows } = await db.query<{ event_id: string; firm_id: string; dossier_id: string; name: string }>(
    'SELECT event_id, firm_id, dossier_id, name FROM welcomed ORDER BY handled_order',
  );
  return rows;
}

/** A firm registration as the directory service writes it: the change and its event in one transaction. */
export function registerFirm(db: Database, firmId: string, name: string, dossierId?: string): Promise<string> {
  return db.transaction((tx) =>
    appendEvent(tx, {
      source: 'directory',
      firmId,
      dossierId,
      payload: { schema: FirmRegisteredSchema, value: { firmId, name, language: 'nl' } },
    }),
  );
}

/** Waits until `check` holds, polling; fails with `what` after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A subscription that only writes down what it receives, as a bystander group would. */
export async function recordAll(transport: EventTransport, groupId: string, topics = ['kantoor.directory.v1']) {
  const received: EventRecord[] = [];
  const subscription = await transport.subscribe({
    groupId,
    topics,
    handler: async (record) => void received.push(record),
  });
  return { received, subscription };
}

/** Wraps a transport; lets a test intercept publish and the handlers given to subscribe. */
export function interceptedTransport(
  inner: EventTransport,
  hooks: {
    publish?: (records: EventRecord[], publish: (records: EventRecord[]) => Promise<void>) => Promise<void>;
    handler?: (record: EventRecord, handle: (record: EventRecord) => Promise<void>) => Promise<void>;
  },
): EventTransport {
  return {
    publish: (records) => (hooks.publish ? hooks.publish(records, (r) => inner.publish(r)) : inner.publish(records)),
    subscribe: (options: SubscribeOptions) =>
      inner.subscribe({
        ...options,
        handler: hooks.handler ? (record) => hooks.handler!(record, options.handler) : options.handler,
      }),
    close: () => inner.close(),
  };
}
