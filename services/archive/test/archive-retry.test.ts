import { unavailable } from '@kantoor/errors';
import { listDeadLetters, retryDelaysMs } from '@kantoor/events';
import type { ObjectStore } from '@kantoor/object-storage';
import { eventRetryOf, readArchiveConfig } from '../src/config';
import { dossierId, employeeCaller, eventually, startArchive, storeInIntake, type Harness } from './archive-harness';

/** An archive store that refuses its first `refusals` writes, as MinIO does while it is unreachable. */
function outageOf(store: ObjectStore, state: { refusals: number; refused: number }): ObjectStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'put' && state.refused < state.refusals)
        return async () => {
          state.refused++;
          throw unavailable('The object store cannot be reached (ECONNREFUSED).', {
            reason: 'object_store_unavailable',
          });
        };
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe("the archive's intake events during an object store outage", () => {
  test('by default an event is tried 12 times over about 18.5 minutes, pauses doubling from 1 s up to 5 minutes', () => {
    const delays = retryDelaysMs(eventRetryOf(readArchiveConfig({})));
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map((seconds) => seconds * 1000));
    expect(delays.reduce((sum, delay) => sum + delay, 0)).toBe(1_111_000);
    const settable = readArchiveConfig({
      ARCHIVE_EVENT_RETRY_ATTEMPTS: '4',
      ARCHIVE_EVENT_RETRY_FIRST_MS: '500',
      ARCHIVE_EVENT_RETRY_MAX_SECONDS: '1',
    });
    expect(retryDelaysMs(eventRetryOf(settable))).toEqual([500, 1000, 1000]);
    expect(() => readArchiveConfig({ ARCHIVE_EVENT_RETRY_ATTEMPTS: '0' })).toThrow(/ARCHIVE_EVENT_RETRY_ATTEMPTS/);
  });

  test('a document stored while the archive store is down is archived once it is back, not dead-lettered', async () => {
    // the outage lasts 6 tries: more than the consumer's default of 5 (about 1.5 s), fewer than the 8 set here
    const state = { refusals: 6, refused: 0 };
    let h: Harness | undefined;
    try {
      h = await startArchive(
        async (_service, options, base) =>
          options?.bucket === 'kantoor-archive' ? outageOf(await base(), state) : undefined,
        { ARCHIVE_EVENT_RETRY_ATTEMPTS: 8, ARCHIVE_EVENT_RETRY_FIRST_MS: 50, ARCHIVE_EVENT_RETRY_MAX_SECONDS: 1 },
      );
      const harness = h;
      const stored = await storeInIntake(harness, { name: 'Tijdens storing' });
      const { documents } = await eventually(
        () => harness.client.searchArchive({ filter: { dossierId } }, { caller: employeeCaller }),
        (answer) => answer.documents.length === 1,
        20_000,
      );
      expect(documents[0]).toMatchObject({ documentId: stored.documentId, name: 'Tijdens storing' });
      expect(documents[0].objects[0].sha256).toBe(stored.sha256);
      expect(state.refused).toBe(6);
      expect(await listDeadLetters(harness.service.db, 'archive')).toEqual([]);
    } finally {
      await h?.close();
    }
  });
});
