/**
 * Events between the threads of the embedded platform. The process keeps one hub (the InProcessTransport of
 * the main thread); a service running in a worker thread gets a `ThreadTransport` whose publishes and
 * subscriptions are carried over a MessagePort to that hub by `serveThreadTransport`. The hub keeps every
 * guarantee it gives in one thread: `publish()` resolves only once every reading group handled the record
 * (here: once the worker's handler resolved and said so over the port), each group's records go through
 * per-key lanes, and a failed handler gets its record again after a back-off.
 *
 * A worker that ends (or crashes) closes its port: the hub stops that worker's subscriptions, so records
 * it had not handled fail their publish and stay in their outbox, to be published again.
 */
import type { MessagePort } from 'node:worker_threads';
import { fromPlainError, toPlainError, unavailable, type PlainError } from '@kantoor/errors';
import type { EventRecord, EventTransport, RecordHandler, SubscribeOptions, Subscription } from './transport';

/** worker → hub */
type ClientMessage =
  | { kind: 'publish'; id: number; records: EventRecord[] }
  | { kind: 'subscribe'; id: number; groupId: string; topics: string[] }
  | { kind: 'unsubscribe'; id: number; subscription: number }
  | { kind: 'handled'; id: number; error?: PlainError };

/** hub → worker */
type HubMessage =
  | { kind: 'reply'; id: number; error?: PlainError; subscription?: number }
  | { kind: 'deliver'; id: number; subscription: number; record: EventRecord };

/** Waiting calls by id, each settled by the other side's answer or failed when the port closes. */
class PendingCalls<T> {
  private next = 1;
  private readonly waiting = new Map<number, { resolve(value: T): void; reject(error: unknown): void }>();

  open(send: (id: number) => void): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try {
        send(id);
      } catch (error) {
        this.waiting.delete(id);
        reject(error);
      }
    });
  }

  settle(id: number, error: PlainError | undefined, value: T): void {
    const call = this.waiting.get(id);
    if (!call) return;
    this.waiting.delete(id);
    if (error) call.reject(fromPlainError(error));
    else call.resolve(value);
  }

  failAll(error: unknown): void {
    for (const call of this.waiting.values()) call.reject(error);
    this.waiting.clear();
  }
}

const portClosed = () =>
  unavailable('the event hub of the embedded platform is gone', { reason: 'event_transport_closed' });

/** The transport a service sees in a worker thread: every call goes to the hub in the main thread. */
export class ThreadTransport implements EventTransport {
  private readonly calls = new PendingCalls<number | undefined>();
  private readonly handlers = new Map<number, RecordHandler>();
  private closed = false;

  constructor(private readonly port: MessagePort) {
    port.on('message', (message: HubMessage) => this.receive(message));
    port.on('close', () => {
      this.closed = true;
      this.calls.failAll(portClosed());
    });
  }

  async publish(records: EventRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.call((id) => ({ kind: 'publish', id, records }));
  }

  async subscribe({ groupId, topics, handler }: SubscribeOptions): Promise<Subscription> {
    const subscription = (await this.call((id) => ({ kind: 'subscribe', id, groupId, topics })))!;
    this.handlers.set(subscription, handler);
    let stopped: Promise<void> | undefined;
    return {
      stop: () =>
        (stopped ??= (async () => {
          // the handler stays until the hub answers: it still delivers the records in flight meanwhile
          if (!this.closed) await this.call((id) => ({ kind: 'unsubscribe', id, subscription }));
          this.handlers.delete(subscription);
        })()),
    };
  }

  /** Ends every subscription of this thread (the hub waits for their handlers in flight) and the port. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled(
      [...this.handlers.keys()].map((subscription) => this.call((id) => ({ kind: 'unsubscribe', id, subscription }))),
    );
    this.handlers.clear();
    this.closed = true;
    this.port.close();
  }

  private call(message: (id: number) => ClientMessage): Promise<number | undefined> {
    if (this.closed) return Promise.reject(portClosed());
    return this.calls.open((id) => this.port.postMessage(message(id)));
  }

  private receive(message: HubMessage): void {
    if (message.kind === 'reply') {
      this.calls.settle(message.id, message.error, message.subscription);
      return;
    }
    const handler = this.handlers.get(message.subscription);
    const answer = (error?: PlainError) => {
      if (!this.closed) this.port.postMessage({ kind: 'handled', id: message.id, error } satisfies ClientMessage);
    };
    if (!handler) {
      answer({ message: 'the subscription has ended', kind: 'unavailable', reason: 'consumer_group_stopped' });
      return;
    }
    handler(message.record).then(
      () => answer(),
      (error: unknown) => answer(toPlainError(error)),
    );
  }
}

/**
 * The hub's side of one worker's port: publishes and subscriptions arriving on it go to `hub`; records for
 * the worker's groups are delivered over the port and count as handled when the worker says so.
 * `close()` (or the worker ending) stops its subscriptions.
 */
export function serveThreadTransport(hub: EventTransport, port: MessagePort): { close(): Promise<void> } {
  const subscriptions = new Map<number, Subscription>();
  const deliveries = new PendingCalls<undefined>();
  let nextSubscription = 1;
  let closing: Promise<void> | undefined;

  const reply = (id: number, outcome: { error?: unknown; subscription?: number } = {}) => {
    if (closing) return;
    port.postMessage({
      kind: 'reply',
      id,
      ...(outcome.error !== undefined && { error: toPlainError(outcome.error) }),
      ...(outcome.subscription !== undefined && { subscription: outcome.subscription }),
    } satisfies HubMessage);
  };

  const answer = (id: number, work: () => Promise<number | undefined>) =>
    work().then(
      (subscription) => reply(id, { subscription }),
      (error: unknown) => reply(id, { error }),
    );

  port.on('message', (message: ClientMessage) => {
    switch (message.kind) {
      case 'publish':
        return answer(message.id, async () => void (await hub.publish(message.records)));
      case 'subscribe':
        return answer(message.id, async () => {
          const subscription = nextSubscription++;
          const handler: RecordHandler = (record) =>
            deliveries.open((id) => {
              if (closing) throw portClosed();
              port.postMessage({ kind: 'deliver', id, subscription, record } satisfies HubMessage);
            });
          subscriptions.set(
            subscription,
            await hub.subscribe({ groupId: message.groupId, topics: message.topics, handler }),
          );
          return subscription;
        });
      case 'unsubscribe':
        return answer(message.id, async () => {
          await subscriptions.get(message.subscription)?.stop();
          subscriptions.delete(message.subscription);
          return undefined;
        });
      case 'handled':
        return deliveries.settle(message.id, message.error, undefined);
    }
  });

  const close = () =>
    (closing ??= (async () => {
      // handlers waiting for this worker will never hear from it: fail them so the hub's stops can finish
      deliveries.failAll(portClosed());
      await Promise.allSettled([...subscriptions.values()].map((subscription) => subscription.stop()));
      subscriptions.clear();
      port.close();
    })());
  port.on('close', () => void close());
  return { close };
}
