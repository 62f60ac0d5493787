import { PgDatabase } from '@kantoor/database';
import { InProcessTransport } from '@kantoor/events';
import type { Platform } from '@kantoor/service-runtime';
import { createScratchPostgres, describeWithPostgres, type ScratchPostgres } from '@kantoor/testing';
import { startDirectory, type DirectoryFixture } from './directory-fixture';

describeWithPostgres('the last admin under concurrency', () => {
  let scratch: ScratchPostgres;
  let fx: DirectoryFixture;
  beforeAll(async () => {
    scratch = await createScratchPostgres('kantoor_directory');
    const platform: Platform = {
      mode: 'cluster',
      transport: new InProcessTransport(),
      logLevel: 'silent',
      openDatabase: async () => new PgDatabase({ connectionString: scratch.url, max: 10 }),
      openObjectStore: () => Promise.reject(new Error('the directory stores no objects')),
      prepareTopics: async () => undefined,
    };
    fx = await startDirectory(platform);
  }, 30_000);
  afterAll(async () => {
    await fx?.stop();
    await scratch?.drop();
  });

  test('two admins demoting each other at the same moment never leave the firm without an admin', async () => {
    for (let round = 0; round < 5; round++) {
      const first = await fx.registerFirm();
      const second = await fx.activeStaff(first, 'admin');
      const outcomes = await Promise.allSettled([
        fx.directory.changeStaffRole({ staffId: first.subjectId, role: 'employee' }, { caller: second }),
        fx.directory.changeStaffRole({ staffId: second.subjectId, role: 'employee' }, { caller: first }),
      ]);
      const admins = await fx.service.db.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM staff WHERE firm_id = $1 AND role = 'admin' AND status = 'active'`,
        [first.firmId],
      );
      expect(admins.rows[0].count).toBe(1);
      expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([
        expect.objectContaining({
          reason: expect.objectContaining({ reason: expect.stringMatching(/last_admin|admin_required/) }),
        }),
      ]);
    }
  });

  test('two admins removing each other at the same moment leave exactly one', async () => {
    const first = await fx.registerFirm();
    const second = await fx.activeStaff(first, 'admin');
    await Promise.allSettled([
      fx.directory.removeStaff({ staffId: first.subjectId }, { caller: second }),
      fx.directory.removeStaff({ staffId: second.subjectId }, { caller: first }),
    ]);
    const { staff } = await fx.directory.listStaff(
      {},
      { caller: fx.operator && { ...first, kind: 'system', subjectId: 'test' } },
    );
    expect(staff.filter((member) => member.role === 'admin')).toHaveLength(1);
  });
});
