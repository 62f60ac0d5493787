const { PGlite } = require('@electric-sql/pglite');
(async () => {
  let t = Date.now();
  const db = await PGlite.create();
  const dump = await db.dumpDataDir('none');
  console.log('init+dump', Date.now() - t, dump.size);
  await db.close();
  for (let i = 0; i < 3; i++) {
    t = Date.now();
    const d = await PGlite.create({ loadDataDir: dump });
    await d.query('select 1');
    console.log('from dump mem', Date.now() - t);
  }
  t = Date.now();
  const d = await PGlite.create({ dataDir: '/tmp/pgl-x' + Date.now(), loadDataDir: dump });
  await d.query('create table a(x int)');
  console.log('from dump dir', Date.now() - t);
})();
