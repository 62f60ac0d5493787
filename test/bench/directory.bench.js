#!/usr/bin/env node
/**
 * Directory budgets (issue 3), on PostgreSQL:
 *  - the access check the gateway adds to a request (its kept facts + the policy): p50 ≤ 0.5 ms; the same
 *    check asking the directory every time (GetDossierAccess over gRPC) is printed beside it;
 *  - listing dossiers for an admin of a firm with 5,000 dossiers, filtered and paginated: p95 ≤ 50 ms.
 * Starts the real directory service on a scratch database beside KANTOOR_BENCH_POSTGRES, seeds the firm,
 * measures, prints one JSON line with the figures and `withinBudget`, and drops the database.
 *
 *   pnpm run build && node test/bench/directory.bench.js
 *
 * Settings: BENCH_DOSSIERS (5000), BENCH_ACCESS_CHECKS (3000), BENCH_LISTINGS (300),
 * KANTOOR_BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432/test).
 */
const { randomBytes, randomUUID } = require('node:crypto');
const { Client } = require('pg');
const { PgDatabase } = require('../../packages/database');
const { InProcessTransport } = require('../../packages/events');
const { createServiceClient, systemCaller } = require('../../packages/grpc');
const { startService } = require('../../packages/service-runtime');
const { DirectoryService } = require('../../proto/dist/kantoor/directory/v1/directory_pb');
const { createDirectoryService } = require('../../services/directory');
const { authorizeWithPolicy, directoryAccessFacts } = require('../../gateway/dist/auth/dossier-policy');
const { cacheAccessFacts } = require('../../gateway/dist/auth/access-facts-cache');

const DOSSIERS = Number(process.env.BENCH_DOSSIERS ?? 5000);
const CHECKS = Number(process.env.BENCH_ACCESS_CHECKS ?? 3000);
const LISTINGS = Number(process.env.BENCH_LISTINGS ?? 300);
const SERVER = process.env.KANTOOR_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const quiet = {
  info() {},
  warn() {},
  debug() {},
  error: (fields, message) => console.error(message, fields),
  child() {
    return quiet;
  },
};

async function onServer(sql) {
  const client = new Client({ connectionString: SERVER });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(3));
};

function belgianNumber(i) {
  const base = `0${String(1_000_000 + i).slice(-7)}`;
  return base + String(97 - (Number(base) % 97)).padStart(2, '0');
}

async function main() {
  const name = `kantoor_bench_${randomBytes(4).toString('hex')}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  const platform = {
    mode: 'cluster',
    transport: new InProcessTransport({ logger: quiet }),
    logLevel: 'silent',
    openDatabase: async () => new PgDatabase({ connectionString: url.toString(), max: 10 }),
    openObjectStore: () => Promise.reject(new Error('no objects')),
  };
  const service = await startService(
    createDirectoryService({ DIRECTORY_ACTIVATION_HOURS: 72, DIRECTORY_TERMS_VERSION: '2025-01' }),
    platform,
    {
      host: '127.0.0.1',
      port: 0,
    },
  );
  const directory = createServiceClient(DirectoryService, `127.0.0.1:${service.port}`);
  try {
    const operator = systemCaller('bench');
    const { firm, adminStaffId } = await directory.registerFirm(
      {
        name: 'Bench',
        functionalEmail: 'office@bench.example',
        language: 'nl',
        adminName: 'Admin',
        adminEmail: 'admin@bench.example',
        adminPassword: 'correct horse battery staple',
      },
      { caller: operator },
    );
    const admin = { kind: 'staff', subjectId: adminStaffId, firmId: firm.id, role: 'admin', scopes: [] };
    // staff and groups through the service, the 5,000 dossiers in bulk: seeding is not what is measured
    const employees = [];
    for (let i = 0; i < 20; i++) {
      const { staff } = await directory.inviteStaff(
        { name: `Employee ${i}`, email: `e${i}@bench.example`, role: 'employee' },
        { caller: admin },
      );
      employees.push(staff.id);
    }
    await service.db.query(`UPDATE staff SET status = 'active' WHERE firm_id = $1`, [firm.id]);
    const { clientGroup } = await directory.createClientGroup(
      { name: 'Horeca', email: 'horeca@bench.example', staffIds: employees.slice(0, 5) },
      { caller: admin },
    );
    const rows = Array.from({ length: DOSSIERS }, (_, i) => [
      randomUUID(),
      `Client ${String(i).padStart(5, '0')} ${['Bakkerij', 'Garage', 'Apotheek', 'Bouw', 'Horeca'][i % 5]}`,
      belgianNumber(i),
      ['new', 'active', 'active', 'active', 'deactivated'][i % 5],
      employees[i % employees.length],
      i % 3 === 0 ? clientGroup.id : null,
    ]);
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const values = chunk.map(
        (_, j) =>
          `($${j * 6 + 1}::uuid, '${firm.id}', $${j * 6 + 3}, $${j * 6 + 2}, 'BE', $${j * 6 + 3}, 'nl', $${j * 6 + 4}, $${j * 6 + 5}::uuid, $${j * 6 + 6}::uuid)`,
      );
      await service.db.query(
        `INSERT INTO dossier (id, firm_id, code, name, country, enterprise_number, language, status, file_manager_id, client_group_id) VALUES ${values.join(',')}`,
        chunk.flat(),
      );
    }
    for (let i = 0; i < DOSSIERS; i += 7) {
      await service.db.query('INSERT INTO dossier_collaborator (dossier_id, staff_id) VALUES ($1, $2)', [
        rows[i][0],
        employees[(i + 3) % employees.length],
      ]);
    }
    await service.db.query('ANALYZE');

    // the access check before routing a request that names a dossier: as the gateway runs it (facts kept,
    // forgotten on access changes), and asking the directory every time (a miss; the gateway without events)
    const route = { permission: 'dossier:read' };
    const employee = { kind: 'staff', subjectId: employees[1], firmId: firm.id, role: 'employee', scopes: [] };
    const checkAccessTimes = async (authorize) => {
      const times = [];
      for (let i = 0; i < CHECKS + 200; i++) {
        const row = rows[((i % 200) * 20 + 1) % rows.length]; // 100 dossiers whose file manager is `employee`
        const started = performance.now();
        await authorize(route, i % 2 ? admin : employee, { params: { dossierId: row[0] } });
        if (i >= 200) times.push(performance.now() - started);
      }
      return times;
    };
    const access = await checkAccessTimes(authorizeWithPolicy(cacheAccessFacts(directoryAccessFacts(directory)).fetch));
    const uncached = await checkAccessTimes(authorizeWithPolicy(directoryAccessFacts(directory)));

    // an admin paging through active dossiers matching a search, 50 at a time
    const listing = [];
    let cursor = '';
    for (let i = 0; i < LISTINGS + 20; i++) {
      const started = performance.now();
      const page = await directory.listDossiers(
        { status: 'active', search: i % 2 ? 'bakkerij' : '', pageSize: 50, cursor },
        { caller: admin },
      );
      if (i >= 20) listing.push(performance.now() - started);
      cursor = page.nextCursor;
    }
    const employeeListing = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      await directory.listDossiers({ status: 'active', pageSize: 50 }, { caller: employee });
      employeeListing.push(performance.now() - started);
    }

    const figures = {
      dossiers: DOSSIERS,
      accessCheckMs: { p50: percentile(access, 50), p95: percentile(access, 95), p99: percentile(access, 99) },
      accessCheckAskingDirectoryMs: { p50: percentile(uncached, 50), p95: percentile(uncached, 95) },
      adminListingMs: { p50: percentile(listing, 50), p95: percentile(listing, 95) },
      employeeListingMs: { p50: percentile(employeeListing, 50), p95: percentile(employeeListing, 95) },
      budgets: { accessCheckP50Ms: 0.5, adminListingP95Ms: 50 },
    };
    figures.withinBudget = figures.accessCheckMs.p50 <= 0.5 && figures.adminListingMs.p95 <= 50;
    console.log(
      `access check (gateway: kept facts + policy): p50 ${figures.accessCheckMs.p50} ms, p95 ${figures.accessCheckMs.p95} ms`,
    );
    console.log(
      `access check asking the directory (gRPC GetDossierAccess + policy): p50 ${figures.accessCheckAskingDirectoryMs.p50} ms, p95 ${figures.accessCheckAskingDirectoryMs.p95} ms`,
    );
    console.log(
      `admin listing, ${DOSSIERS} dossiers, filtered, 50 per page: p50 ${figures.adminListingMs.p50} ms, p95 ${figures.adminListingMs.p95} ms`,
    );
    console.log(
      `employee listing (assigned dossiers only): p50 ${figures.employeeListingMs.p50} ms, p95 ${figures.employeeListingMs.p95} ms`,
    );
    console.log(JSON.stringify(figures));
    process.exitCode = figures.withinBudget ? 0 : 1;
  } finally {
    directory.close();
    await service.stop();
    await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
