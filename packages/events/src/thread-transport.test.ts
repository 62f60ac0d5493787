import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { isDomainError } from '@kantoor/errors';
import { eventTransportContract } from './contract';
import { InProcessTransport } from './in-process-transport';
import { ThreadTransport, serveThreadTransport } from './thread-transport';
import type { EventTransport } from './transport';

// every service in a worker thread of its own: each transport the contract opens is one worker's, on one hub
eventTransportContract(
  'ThreadTransport',
  {
    publishAwaitsHandling: true,
    keepsRecords: false,
    sharedGroups: false,
    orderAcrossTopics: true,
    crashedHandler: 'publish-refused',
  },
  async ({ redeliveryBackoff }) => {
    const hub = new InProcessTransport({ logger: { warn: () => {} }, redeliveryBackoff });
    const workers = new Map<EventTransport, { port: MessagePort; served: { close(): Promise<void> } }>();
    return {
      async open() {
        const channel = new MessageChannel();
        const worker = new ThreadTransport(channel.port2);
        workers.set(worker, { port: channel.port2, served: serveThreadTransport(hub, channel.port1) });
        return worker;
      },
      // the thread died: its end of the channel is gone, and the hub has to notice by itself
      crash: async (worker) => workers.get(worker)!.port.close(),
      async dispose() {
        for (const [worker, { served }] of workers) {
          await worker.close();
          await served.close();
        }
        await hub.close();
      },
    };
  },
);

/** What the contract does not reach: the hub itself closing under a worker. */
test("when the hub has closed, a worker is refused with the hub's own domain error", async () => {
  const hub = new InProcessTransport({ logger: { warn: () => undefined } });
  const channel = new MessageChannel();
  serveThreadTransport(hub, channel.port1);
  const worker = new ThreadTransport(channel.port2);
  await hub.close();
  const refused = await worker
    .publish([{ topic: 't', key: 'k', value: new TextEncoder().encode('late'), headers: {} }])
    .catch((error: unknown) => error);
  expect(isDomainError(refused)).toBe(true);
  expect(refused).toMatchObject({ kind: 'failed_precondition', reason: 'event_transport_closed' });
  await worker.close();
});
