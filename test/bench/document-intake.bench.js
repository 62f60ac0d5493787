#!/usr/bin/env node
/**
 * Document intake through the gateway, in two topologies:
 *
 * embedded: the built embedded platform (gateway and every service in one process, each service with its
 * own PGlite, as `pnpm start` runs it); its RSS is the whole platform's, so it says nothing about the upload
 * budget's "gateway plus intake":
 *  - 100 uploads of 1 MB PDFs over 20 concurrent connections (throughput and process RSS, for comparison);
 *  - ZIP download of 2,000 stored documents (about 1 GB): ≥ 100 MB/s, RSS growth < 50 MB;
 *  - JPEG → PDF: ≥ 50 images of 2 megapixels per second (uploads of a 1920×1080 scan, 8 at a time).
 *
 * cluster: what the upload budget names, as the cluster deploys it: the gateway and document-intake each in a
 * process of their own on PostgreSQL (a scratch database each, dropped afterwards) with the folder object
 * store, and the directory in a third process (logins, access facts); see cluster-process.js for how close to
 * a pod that is.
 *  - 100 uploads of 1 MB PDFs over 20 concurrent connections: ≥ 50 MB/s, and the RSS of the gateway and intake
 *    processes together, sampled every 50 ms during the uploads, stays < 300 MB at its peak;
 *  - the same ZIP download as embedded (cluster… figures): gateway and intake CPU per MB and RSS growth.
 *
 * monitor: the active clients monitor (GET /v1/active-clients) in the cluster topology, for a firm of
 * BENCH_MONITOR_DOSSIERS (1000) active dossiers of which one in ten holds a sent document and another one in ten a
 * draft: the first page (50 shown of the first 100 or so dossiers), every page of the whole list, and every page
 * of the only-waiting filter (which walks all the dossiers for 100 shown). No budget names it; the figures are
 * milliseconds per page, the median of BENCH_MONITOR_REPEATS (10) runs.
 *
 * Both upload loads are measured after BENCH_UPLOAD_WARMUP (100) uploads of other files, whose throughput is
 * printed too (…WarmupMBps): the budget is about a service that has been running.
 *
 * Knobs: BENCH_TOPOLOGIES (embedded,cluster,monitor), BENCH_MONITOR_DOSSIERS (1000), BENCH_MONITOR_REPEATS (10), BENCH_ZIP_DOCS (2000), BENCH_ZIP_DOC_KB (512), BENCH_UPLOADS
 * (100), BENCH_UPLOAD_WARMUP (100), BENCH_JPEGS (200), BENCH_NODE_ARGS (node flags for the platform or component processes, e.g.
 * --cpu-prof --cpu-prof-dir=/tmp/prof), KANTOOR_BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432/test; read by cluster-topology.js).
 *
 *   pnpm exec tsc -b tsconfig.build.json && node test/bench/document-intake.bench.js
 */
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startClusterPlatform } = require('./cluster-topology');

const MAIN = path.join(__dirname, '..', '..', 'deploy', 'embedded', 'dist', 'main.js');
const { embeddedNodeFlags } = require('./launch-flags');
const { cpuOf, machineLoopSeconds, postgresCpuSeconds, rssOf } = require('./process-figures');
const PORT = Number(process.env.BENCH_PORT ?? 18580);
const BASE = `http://127.0.0.1:${PORT}`;
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? 'embedded,cluster,monitor').split(',');
const MONITOR_DOSSIERS = Number(process.env.BENCH_MONITOR_DOSSIERS ?? 1000);
const MONITOR_REPEATS = Number(process.env.BENCH_MONITOR_REPEATS ?? 10);
const MB = 1024 * 1024;
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 100);
// uploads before the measured ones, as the gateway bench warms up: the budget is about a running service, and
// the first uploads also compile the upload path (cold, the same 100 uploads take 1.3–1.6× the CPU)
const UPLOAD_WARMUP = Number(process.env.BENCH_UPLOAD_WARMUP ?? 100);
const ZIP_DOCS = Number(process.env.BENCH_ZIP_DOCS ?? 2000);
const ZIP_DOC_BYTES = Number(process.env.BENCH_ZIP_DOC_KB ?? 512) * 1024;
const JPEGS = Number(process.env.BENCH_JPEGS ?? 200);
/** extra node flags for the platform process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SCAN = readFileSync(path.join(__dirname, 'fixtures', 'scan-2mp.jpg'));

/** A valid one-page PDF of about `size` bytes (an incompressible content stream), different per `seed`. */
function pdfOfSize(size, seed) {
  const filler = Buffer.alloc(Math.max(0, size - 600));
  for (let i = 0, x = seed * 2654435761; i < filler.length; i++)
    filler[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>',
  ];
  const parts = [Buffer.from('%PDF-1.4\n')];
  let length = parts[0].length;
  const offsets = [];
  const push = (buffer) => (parts.push(buffer), (length += buffer.length));
  objects.forEach((object, i) => (offsets.push(length), push(Buffer.from(`${i + 1} 0 obj\n${object}\nendobj\n`))));
  offsets.push(length);
  push(Buffer.from(`4 0 obj\n<< /Length ${filler.length} >>\nstream\n`));
  push(filler);
  push(Buffer.from('\nendstream\nendobj\n'));
  const xref = length;
  const table = offsets.map((at) => `${String(at).padStart(10, '0')} 00000 n \n`).join('');
  push(
    Buffer.from(
      `xref\n0 5\n0000000000 65535 f \n${table}trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`,
    ),
  );
  return Buffer.concat(parts);
}

function start(dataDir) {
  const child = spawn(process.execPath, [...embeddedNodeFlags(), ...NODE_ARGS, MAIN], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(PORT),
      GRPC_BASE_PORT: String(PORT + 100),
      SMTP_SINK_PORT: '0',
      // no e-mail intake: a platform already running here holds its port
      INTAKE_SMTP_PORT: '0',
      INTAKE_SMTP_PORT: '0',
      LOG_LEVEL: 'error',
      RATE_LIMIT_PER_USER: '100000000',
      RATE_LIMIT_PER_API_KEY: '100000000',
      RATE_LIMIT_PER_IP: '100000000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (!output.includes('Kantoor is running')) return;
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}

/**
 * Samples the resident memory of the processes (summed) every 50 ms while `work` runs; the highest value
 * counts, also per process.
 */
async function measured(pids, work, rssPids = [pids].flat().length) {
  pids = [pids].flat();
  const sum = (values) => values.slice(0, rssPids).reduce((a, b) => a + b, 0);
  const before = pids.map(rssOf);
  const cpuEachBefore = pids.map(cpuOf);
  const cpuBefore = cpuEachBefore.reduce((a, b) => a + b, 0);
  const peaks = [...before];
  let peak = sum(before);
  const timer = setInterval(() => {
    const now = pids.map(rssOf);
    now.forEach((rss, i) => (peaks[i] = Math.max(peaks[i], rss)));
    peak = Math.max(peak, sum(now));
  }, 50);
  const begun = process.hrtime.bigint();
  try {
    const result = await work();
    const seconds = Number(process.hrtime.bigint() - begun) / 1e9;
    const cpuSeconds = pids.map(cpuOf).reduce((a, b) => a + b, 0) - cpuBefore;
    const each = pids.map((pid, i) => ({
      before: before[i],
      peak: peaks[i],
      cpuSeconds: cpuOf(pid) - cpuEachBefore[i],
    }));
    return { result, seconds, cpuSeconds, before: sum(before), peak, each };
  } finally {
    clearInterval(timer);
  }
}

/**
 * The load's HTTP client: node:http over kept-alive connections. It costs the shared cores a fraction of what
 * fetch (undici) does per 1 MB request body, so more of the machine is left to what is measured.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function send(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, text: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function call(method, url, token, body, headers = {}, base = BASE) {
  const { status, text } = await send(
    method,
    `${base}${url}`,
    {
      ...headers,
      ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
      ...(token.startsWith('key:')
        ? { 'x-api-key': token.slice(4) }
        : token
          ? { authorization: `Bearer ${token}` }
          : {}),
    },
    body,
  );
  if (status < 200 || status >= 300) throw new Error(`${method} ${url}: ${status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const json = (method, url, token, body, base = BASE) =>
  call(method, url, token, JSON.stringify(body), { 'content-type': 'application/json' }, base);

async function concurrently(count, connections, task) {
  let next = 0;
  const results = [];
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

/** The warm-up: UPLOAD_WARMUP uploads of 1 MB PDFs unlike the measured ones, 20 at a time; their MB/s and results. */
async function warmUp(upload) {
  const begun = process.hrtime.bigint();
  const results = await concurrently(UPLOAD_WARMUP, 20, (i) =>
    upload(pdfOfSize(MB, 1_000_000 + i), `warm-up-${i}.pdf`),
  );
  const seconds = Number(process.hrtime.bigint() - begun) / 1e9;
  return { results, MBps: UPLOAD_WARMUP ? Number((UPLOAD_WARMUP / seconds).toFixed(1)) : null };
}

function belgianNumber() {
  const base = `0${String(1_000_000 + (Date.now() % 8_999_999)).slice(-7)}`;
  return base + String(97 - (Number(base) % 97)).padStart(2, '0');
}

/**
 * Signs the firm's admin in through the gateway at `base`, makes an active dossier and a partner feed's API
 * key; the feed uploads (and sends) as the client would, the admin takes the hand-over.
 */
async function benchDossier(base, login) {
  const { accessToken: admin, staffId } = await json('POST', '/v1/auth/login', '', login, base).then((answer) => ({
    ...answer,
    staffId: JSON.parse(Buffer.from(answer.accessToken.split('.')[1], 'base64url').toString()).sub,
  }));
  const dossier = await json(
    'POST',
    '/v1/dossiers',
    admin,
    { name: 'Benchmark BV', country: 'BE', enterpriseNumber: belgianNumber(), language: 'nl' },
    base,
  );
  const me = await call('GET', '/v1/me', admin, undefined, {}, base).catch(() => ({ id: staffId }));
  await json('POST', `/v1/dossiers/${dossier.id}/activation`, admin, { fileManagerId: me.id ?? staffId }, base);
  const { key } = await json(
    'POST',
    '/v1/api-keys',
    admin,
    { name: 'bench feed', scopes: ['document:write', 'document:read'] },
    base,
  );
  const upload = (bytes, name, mailbox = 'purchase') =>
    call(
      'POST',
      `/v1/dossiers/${dossier.id}/documents?mailbox=${mailbox}&fileName=${name}`,
      `key:${key}`,
      bytes,
      { 'content-type': 'application/octet-stream' },
      base,
    );
  return { admin, dossier, feed: `key:${key}`, upload };
}

/**
 * Fills the bench dossier to ZIP_DOCS sent documents (ZIP_DOC_BYTES each, over the three mailboxes) besides
 * those `uploaded` already, then downloads its ZIP as the accountant does; MB/s, CPU of `pids` per MB and the
 * growth of their summed RSS. Field names get `prefix` (e.g. clusterZipMBps).
 */
async function zipDownload({ base, bench, uploaded, pids, names, prefix = '' }) {
  const { admin, dossier, feed, upload } = bench;
  const more = Math.max(0, ZIP_DOCS - uploaded.length);
  const stored = await concurrently(more, 20, (i) =>
    upload(pdfOfSize(ZIP_DOC_BYTES, 10_000 + i), `stored-${i}.pdf`, ['purchase', 'sales', 'misc'][i % 3]),
  );
  const ids = [...uploaded, ...stored].map((doc) => doc.id);
  for (let at = 0; at < ids.length; at += 100)
    await json(
      'POST',
      `/v1/dossiers/${dossier.id}/document-sends`,
      feed,
      { documentIds: ids.slice(at, at + 100) },
      base,
    );
  if (global.gc) global.gc();
  const clientCpuBefore = process.cpuUsage();
  const zip = await measured(pids, async () => {
    const response = await new Promise((resolve, reject) =>
      http
        .get(
          `${base}/v1/dossiers/${dossier.id}/documents-zip`,
          { agent, headers: { authorization: `Bearer ${admin}` } },
          resolve,
        )
        .on('error', reject),
    );
    if (response.statusCode !== 200) throw new Error(`ZIP: ${response.statusCode}`);
    let bytes = 0;
    for await (const chunk of response) bytes += chunk.length;
    return bytes;
  });
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const name = (field) => (prefix ? prefix + field[0].toUpperCase() + field.slice(1) : field);
  const perMB = (seconds) => Number(((seconds * 1000) / (zip.result / MB)).toFixed(2));
  return {
    [name('zipDocuments')]: ids.length,
    [name('zipMB')]: Math.round(zip.result / MB),
    [name('zipMBps')]: Number((zip.result / MB / zip.seconds).toFixed(1)),
    [name('zipPlatformCpuMsPerMB')]: Number(((zip.cpuSeconds * 1000) / (zip.result / MB)).toFixed(2)),
    [name('zipRssGrowthMB')]: Math.round((zip.peak - zip.before) / MB),
    // CPU milliseconds per MB of each party (the platform's processes by name, and the downloading client)
    ...(names && {
      [name('zipCpuMsPerMB')]: {
        ...Object.fromEntries(names.map((party, i) => [party, perMB(zip.each[i].cpuSeconds)])),
        client: perMB((clientCpu.user + clientCpu.system) / 1e6),
      },
    }),
  };
}

async function embeddedTopology() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kantoor-intake-bench-'));
  const child = await start(dataDir);
  try {
    const demo = JSON.parse(readFileSync(path.join(dataDir, 'demo-login.json'), 'utf8'));
    const { admin, dossier, feed, upload } = await benchDossier(BASE, { email: demo.email, password: demo.password });

    // 1. 100 uploads of 1 MB PDFs, 20 at a time, after the warm-up
    const warm = await warmUp(upload);
    const files = Array.from({ length: UPLOADS }, (_, i) => pdfOfSize(MB, i + 1));
    const uploads = await measured(child.pid, () =>
      concurrently(UPLOADS, 20, (i) => upload(files[i], `upload-${i}.pdf`)),
    );
    const uploadedBytes = files.reduce((sum, file) => sum + file.length, 0);

    // 2. fill the dossier to ZIP_DOCS sent documents, then download the ZIP
    const zip = await zipDownload({
      base: BASE,
      bench: { admin, dossier, feed, upload },
      uploaded: [...warm.results, ...uploads.result],
      pids: [child.pid],
    });

    // 3. JPEG → PDF: 2 MP scans, 8 at a time, each one stored with its PDF
    const jpegs = await measured(child.pid, () => concurrently(JPEGS, 8, (i) => upload(SCAN, `scan-${i}.jpg`, 'misc')));
    if (!jpegs.result.every((doc) => doc.hasPdf && doc.pages === 1)) throw new Error('a JPEG did not become a PDF');

    return {
      uploads: UPLOADS,
      uploadWarmupMBps: warm.MBps,
      uploadMBps: Number((uploadedBytes / MB / uploads.seconds).toFixed(1)),
      uploadRssBeforeMB: Math.round(uploads.before / MB),
      uploadPeakRssMB: Math.round(uploads.peak / MB),
      uploadPlatformCpuMsPerUpload: Number(((uploads.cpuSeconds * 1000) / UPLOADS).toFixed(1)),
      ...zip,
      jpegImages: JPEGS,
      jpegMegapixels: 2.07,
      jpegPerSecond: Number((JPEGS / jpegs.seconds).toFixed(1)),
      jpegCpuMsPerImage: Number(((jpegs.cpuSeconds * 1000) / JPEGS).toFixed(1)),
      jpegPeakRssMB: Math.round(jpegs.peak / MB),
    };
  } finally {
    child.kill('SIGINT');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function clusterTopology() {
  const platform = await startClusterPlatform({ gatewayPort: PORT + 1, nodeArgs: NODE_ARGS });
  try {
    const { gateway, intake, directory, login } = platform;
    const base = `http://127.0.0.1:${gateway.port}`;
    const bench = await benchDossier(base, login);
    const { upload } = bench;
    const warm = await warmUp(upload);

    const files = Array.from({ length: UPLOADS }, (_, i) => pdfOfSize(MB, i + 1));
    const postgresCpuBefore = postgresCpuSeconds();
    const benchCpuBefore = process.cpuUsage();
    // the RSS budget is the gateway's and the intake's; the directory is measured for its CPU only
    const uploads = await measured(
      [gateway.child.pid, intake.child.pid, directory.child.pid],
      () => concurrently(UPLOADS, 20, (i) => upload(files[i], `upload-${i}.pdf`)),
      2,
    );
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const postgresCpu = postgresCpuSeconds() - postgresCpuBefore;
    const uploadedBytes = files.reduce((sum, file) => sum + file.length, 0);
    const cpuMsPerUpload = (seconds) => Number(((seconds * 1000) / UPLOADS).toFixed(1));
    // the same ZIP download as in the embedded topology, gateway and intake measured (CPU and RSS growth)
    const zip = await zipDownload({
      base,
      bench,
      uploaded: [...warm.results, ...uploads.result],
      pids: [gateway.child.pid, intake.child.pid],
      names: ['gateway', 'intake'],
      prefix: 'cluster',
    });
    return {
      ...zip,
      clusterUploadWarmupMBps: warm.MBps,
      clusterUploadMBps: Number((uploadedBytes / MB / uploads.seconds).toFixed(1)),
      clusterUploadRssBeforeMB: Math.round(uploads.before / MB),
      clusterUploadPeakRssMB: Math.round(uploads.peak / MB),
      clusterGatewayRssBeforeMB: Math.round(uploads.each[0].before / MB),
      clusterGatewayPeakRssMB: Math.round(uploads.each[0].peak / MB),
      clusterIntakeRssBeforeMB: Math.round(uploads.each[1].before / MB),
      clusterIntakePeakRssMB: Math.round(uploads.each[1].peak / MB),
      // CPU milliseconds per upload of each party: what a shared machine's load cannot hide
      clusterCpuMsPerUpload: {
        gateway: cpuMsPerUpload(uploads.each[0].cpuSeconds),
        intake: cpuMsPerUpload(uploads.each[1].cpuSeconds),
        directory: cpuMsPerUpload(uploads.each[2].cpuSeconds),
        postgres: cpuMsPerUpload(postgresCpu),
        client: cpuMsPerUpload((benchCpu.user + benchCpu.system) / 1e6),
      },
    };
  } finally {
    await platform.stop();
  }
}

/** The median milliseconds of `task` over MONITOR_REPEATS runs (after one run not counted), and its last result. */
async function medianMs(task) {
  let result = await task();
  const times = [];
  for (let run = 0; run < MONITOR_REPEATS; run++) {
    const begun = process.hrtime.bigint();
    result = await task();
    times.push(Number(process.hrtime.bigint() - begun) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { ms: Number(times[Math.floor(times.length / 2)].toFixed(1)), result };
}

async function monitorTopology() {
  const platform = await startClusterPlatform({ gatewayPort: PORT + 2, nodeArgs: NODE_ARGS });
  try {
    const base = `http://127.0.0.1:${platform.gateway.port}`;
    const { admin, feed } = await benchDossier(base, platform.login);
    const me = JSON.parse(Buffer.from(admin.split('.')[1], 'base64url').toString()).sub;
    await concurrently(MONITOR_DOSSIERS, 10, async (i) => {
      const number = `0${String(3_000_000 + i).padStart(7, '0')}`;
      const dossier = await json(
        'POST',
        '/v1/dossiers',
        admin,
        {
          name: `Klant ${String(i).padStart(5, '0')}`,
          country: 'BE',
          enterpriseNumber: number + String(97 - (Number(number) % 97)).padStart(2, '0'),
          language: 'nl',
        },
        base,
      );
      await json('POST', `/v1/dossiers/${dossier.id}/activation`, admin, { fileManagerId: me }, base);
      if (i % 10 > 1) return;
      const stored = await call(
        'POST',
        `/v1/dossiers/${dossier.id}/documents?mailbox=purchase&fileName=factuur.pdf`,
        feed,
        pdfOfSize(4096, 20_000 + i),
        { 'content-type': 'application/octet-stream' },
        base,
      );
      if (i % 10 === 0)
        await json('POST', `/v1/dossiers/${dossier.id}/document-sends`, feed, { documentIds: [stored.id] }, base);
    });
    const everyPage = async (query) => {
      const ids = [];
      let cursor = '';
      do {
        const page = await call(
          'GET',
          `/v1/active-clients?${query}${cursor && `&cursor=${cursor}`}`,
          admin,
          undefined,
          {},
          base,
        );
        ids.push(...page.clients.map((client) => client.dossierId));
        cursor = page.nextCursor;
      } while (cursor);
      return ids;
    };
    const first = await medianMs(() => call('GET', '/v1/active-clients', admin, undefined, {}, base));
    const whole = await medianMs(() => everyPage('pageSize=50'));
    const waiting = await medianMs(() => everyPage('pageSize=50&onlyWaiting=true'));
    // the bench dossier holds no documents: a fifth of the others are shown, a tenth are waiting
    if (whole.result.length !== MONITOR_DOSSIERS / 5 || waiting.result.length !== MONITOR_DOSSIERS / 10)
      throw new Error(`the monitor showed ${whole.result.length} and ${waiting.result.length} dossiers`);
    return {
      monitorDossiers: MONITOR_DOSSIERS,
      monitorFirstPageMs: first.ms,
      monitorWholeListMs: whole.ms,
      monitorWholeListPages: Math.ceil(whole.result.length / 50),
      monitorOnlyWaitingMs: waiting.ms,
      monitorOnlyWaitingPages: Math.ceil(waiting.result.length / 50),
    };
  } finally {
    await platform.stop();
  }
}

async function main() {
  const figures = {
    // the speed of this machine's cores at the time (see process-figures.js): compare figures only at similar values
    machineLoopSeconds: machineLoopSeconds(),
    ...(TOPOLOGIES.includes('embedded') && (await embeddedTopology())),
    ...(TOPOLOGIES.includes('cluster') && (await clusterTopology())),
    ...(TOPOLOGIES.includes('monitor') && (await monitorTopology())),
  };
  // the upload budget names the gateway and the intake: the cluster topology measures exactly those
  const uploadsWithin =
    figures.clusterUploadMBps === undefined ||
    (figures.clusterUploadMBps >= 50 &&
      figures.clusterUploadPeakRssMB < 300 &&
      figures.clusterZipMBps >= 100 &&
      figures.clusterZipRssGrowthMB < 50);
  // the embedded uploads are for comparison (their RSS is the whole platform's, and the archive copies every
  // upload in the same process meanwhile); the ZIP and JPEG budgets hold there too
  const embeddedWithin =
    figures.zipMBps === undefined ||
    (figures.zipMBps >= 100 && figures.zipRssGrowthMB < 50 && figures.jpegPerSecond >= 50);
  figures.withinBudget = uploadsWithin && embeddedWithin;
  console.log(JSON.stringify(figures));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
