import type { AccessFacts, AccessFactsQuery } from '@kantoor/access-policy';
import { InProcessTransport, appendEvent, decodeEnvelope } from '@kantoor/events';
import { cacheAccessFacts, forgetAfterDirectoryChanges, forgetOnDirectoryEvents } from './access-facts-cache';

const FIRM = '11111111-1111-4111-8111-111111111111';
const OTHER_FIRM = '22222222-2222-4222-8222-222222222222';
const query = (firmId = FIRM, dossierId?: string): AccessFactsQuery => ({
  firmId,
  dossierId,
  subject: { kind: 'staff', id: 'staff-1' },
});

function directoryFacts() {
  const state = { assigned: ['staff-1'], calls: 0 };
  const fetch = async (asked: AccessFactsQuery): Promise<AccessFacts> => {
    state.calls += 1;
    return {
      firm: { firmId: asked.firmId, onlyAdminsAddClients: false },
      dossier: asked.dossierId
        ? {
            dossierId: asked.dossierId,
            firmId: asked.firmId,
            status: 'active',
            assignedStaffIds: [...state.assigned],
            portalUserIds: [],
          }
        : undefined,
    };
  };
  return { state, fetch };
}

describe('the access facts the gateway keeps', () => {
  test('a repeated check asks the directory once', async () => {
    const { state, fetch } = directoryFacts();
    const cache = cacheAccessFacts(fetch);
    await cache.fetch(query(FIRM, 'd1'));
    await cache.fetch(query(FIRM, 'd1'));
    expect(state.calls).toBe(1);
  });

  test('forgetting a firm makes the next check see the change, and leaves other firms kept', async () => {
    const { state, fetch } = directoryFacts();
    const cache = cacheAccessFacts(fetch);
    await cache.fetch(query(FIRM, 'd1'));
    await cache.fetch(query(OTHER_FIRM, 'd1'));
    state.assigned = [];
    cache.forgetFirm(FIRM);
    expect((await cache.fetch(query(FIRM, 'd1')))!.dossier!.assignedStaffIds).toEqual([]);
    await cache.fetch(query(OTHER_FIRM, 'd1'));
    expect(state.calls).toBe(3);
  });

  test('facts fetched while the firm was forgotten are not kept', async () => {
    let release!: () => void;
    const { state, fetch } = directoryFacts();
    const cache = cacheAccessFacts(async (asked) => {
      const facts = await fetch(asked);
      await new Promise<void>((resolve) => (release = resolve));
      return facts;
    });
    const inFlight = cache.fetch(query(FIRM, 'd1'));
    await new Promise((resolve) => setImmediate(resolve));
    cache.forgetFirm(FIRM);
    release();
    await inFlight;
    const again = cache.fetch(query(FIRM, 'd1'));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await again;
    expect(state.calls).toBe(2);
  });

  test('entries expire after the TTL and the least recently used go beyond the bound', async () => {
    let now = 0;
    const { state, fetch } = directoryFacts();
    const cache = cacheAccessFacts(fetch, { ttlMs: 1000, maxEntries: 2, now: () => now });
    await cache.fetch(query(FIRM, 'd1'));
    now = 1001;
    await cache.fetch(query(FIRM, 'd1'));
    expect(state.calls).toBe(2);
    await cache.fetch(query(FIRM, 'd2'));
    await cache.fetch(query(FIRM, 'd1'));
    await cache.fetch(query(FIRM, 'd3'));
    expect(cache.size).toBe(2);
    await cache.fetch(query(FIRM, 'd1'));
    expect(state.calls).toBe(4);
    await cache.fetch(query(FIRM, 'd2'));
    expect(state.calls).toBe(5);
  });

  test('a change made through the gateway forgets the firm before the answer, a read does not', async () => {
    const { state, fetch } = directoryFacts();
    const cache = cacheAccessFacts(fetch);
    const client = forgetAfterDirectoryChanges(
      {
        getDossier: async (_request: object, _options: object) => ({}),
        assignDossier: async (_request: object, _options: object) => {
          state.assigned = [];
          return {};
        },
      },
      cache,
    );
    const caller = { firmId: FIRM };
    await cache.fetch(query(FIRM, 'd1'));
    await client.getDossier({}, { caller });
    await cache.fetch(query(FIRM, 'd1'));
    expect(state.calls).toBe(1);
    await client.assignDossier({}, { caller });
    expect((await cache.fetch(query(FIRM, 'd1')))!.dossier!.assignedStaffIds).toEqual([]);
  });

  test('a directory event forgets the firm it names', async () => {
    const transport = new InProcessTransport();
    const { state, fetch } = directoryFacts();
    const cache = cacheAccessFacts(fetch);
    const subscription = await forgetOnDirectoryEvents(transport, 'gateway', cache);
    await cache.fetch(query(FIRM, 'd1'));
    const rows: Array<{ topic: string; key: string; payload: Uint8Array; headers: Record<string, string> }> = [];
    const { DossierAccessChangedSchema } = await import('@kantoor/proto/kantoor/directory/v1/events_pb');
    await appendEvent(
      {
        query: async (_sql: string, params?: readonly unknown[]) => {
          rows.push({
            topic: params![1] as string,
            key: params![2] as string,
            payload: params![4] as Uint8Array,
            headers: {},
          });
          return { rows: [], rowCount: 1 };
        },
      },
      {
        source: 'directory',
        firmId: FIRM,
        dossierId: 'd1',
        payload: { schema: DossierAccessChangedSchema, value: { firmId: FIRM, dossierId: 'd1' } },
      },
    );
    expect(decodeEnvelope(rows[0].payload).firmId).toBe(FIRM);
    await transport.publish(rows.map(({ topic, key, payload, headers }) => ({ topic, key, value: payload, headers })));
    await cache.fetch(query(FIRM, 'd1'));
    expect(state.calls).toBe(2);
    await subscription.stop();
    await transport.close();
  });
});
