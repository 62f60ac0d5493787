#!/usr/bin/env node
/**
 * Document intake through the gateway of the built embedded platform (gateway and every service in one
 * process, as `pnpm start` runs it):
 *  - 100 uploads of 1 MB PDFs over 20 concurrent connections: ≥ 50 MB/s, process RSS < 300 MB;
 *  - ZIP download of 2,000 stored documents (about 1 GB): ≥ 100 MB/s, RSS growth < 50 MB;
 *  - JPEG → PDF: ≥ 50 images of 2 megapixels per second (uploads of a 1920×1080 scan, 8 at a time).
 * Knobs: BENCH_ZIP_DOCS (2000), BENCH_ZIP_DOC_KB (512), BENCH_UPLOADS (100), BENCH_JPEGS (200),
 * BENCH_NODE_ARGS (node flags for the platform process, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
 *
 *   pnpm exec tsc -b tsconfig.build.json && node test/bench/document-intake.bench.js
 */
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MAIN = path.join(__dirname, '..', '..', 'deploy', 'embedded', 'dist', 'main.js');
const PORT = Number(process.env.BENCH_PORT ?? 18580);
const BASE = `http://127.0.0.1:${PORT}`;
const MB = 1024 * 1024;
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 100);
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
  const child = spawn(process.execPath, [...NODE_ARGS, MAIN], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(PORT),
      GRPC_BASE_PORT: String(PORT + 100),
      SMTP_SINK_PORT: '0',
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

const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

/** Samples the process' resident memory every 50 ms while `work` runs; the highest value counts. */
async function measured(pid, work) {
  const before = rssOf(pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
  const begun = process.hrtime.bigint();
  try {
    const result = await work();
    return { result, seconds: Number(process.hrtime.bigint() - begun) / 1e9, before, peak };
  } finally {
    clearInterval(timer);
  }
}

async function call(method, url, token, body, headers = {}) {
  const response = await fetch(`${BASE}${url}`, {
    method,
    headers: {
      ...headers,
      ...(token.startsWith('key:')
        ? { 'x-api-key': token.slice(4) }
        : token
          ? { authorization: `Bearer ${token}` }
          : {}),
    },
    body,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const json = (method, url, token, body) =>
  call(method, url, token, JSON.stringify(body), { 'content-type': 'application/json' });

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

function belgianNumber() {
  const base = `0${String(1_000_000 + (Date.now() % 8_999_999)).slice(-7)}`;
  return base + String(97 - (Number(base) % 97)).padStart(2, '0');
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kantoor-intake-bench-'));
  const child = await start(dataDir);
  try {
    const demo = JSON.parse(readFileSync(path.join(dataDir, 'demo-login.json'), 'utf8'));
    const { accessToken: admin, staffId } = await json('POST', '/v1/auth/login', '', {
      email: demo.email,
      password: demo.password,
    }).then((login) => ({
      ...login,
      staffId: JSON.parse(Buffer.from(login.accessToken.split('.')[1], 'base64url').toString()).sub,
    }));
    const dossier = await json('POST', '/v1/dossiers', admin, {
      name: 'Benchmark BV',
      country: 'BE',
      enterpriseNumber: belgianNumber(),
      language: 'nl',
    });
    const me = await call('GET', '/v1/me', admin).catch(() => ({ id: staffId }));
    await json('POST', `/v1/dossiers/${dossier.id}/activation`, admin, { fileManagerId: me.id ?? staffId });
    // a partner feed uploads (and sends) as the client would; the admin takes the hand-over
    const { key } = await json('POST', '/v1/api-keys', admin, {
      name: 'bench feed',
      scopes: ['document:write', 'document:read'],
    });
    const feed = `key:${key}`;
    const upload = (bytes, name, mailbox = 'purchase') =>
      call('POST', `/v1/dossiers/${dossier.id}/documents?mailbox=${mailbox}&fileName=${name}`, feed, bytes, {
        'content-type': 'application/octet-stream',
      });

    // 1. 100 uploads of 1 MB PDFs, 20 at a time
    const files = Array.from({ length: UPLOADS }, (_, i) => pdfOfSize(MB, i + 1));
    const uploads = await measured(child.pid, () =>
      concurrently(UPLOADS, 20, (i) => upload(files[i], `upload-${i}.pdf`)),
    );
    const uploadedBytes = files.reduce((sum, file) => sum + file.length, 0);

    // 2. fill the dossier to ZIP_DOCS sent documents, then download the ZIP
    const more = Math.max(0, ZIP_DOCS - UPLOADS);
    const stored = await concurrently(more, 20, (i) =>
      upload(pdfOfSize(ZIP_DOC_BYTES, 10_000 + i), `stored-${i}.pdf`, ['purchase', 'sales', 'misc'][i % 3]),
    );
    const ids = [...uploads.result, ...stored].map((doc) => doc.id);
    for (let at = 0; at < ids.length; at += 100)
      await json('POST', `/v1/dossiers/${dossier.id}/document-sends`, feed, { documentIds: ids.slice(at, at + 100) });
    if (global.gc) global.gc();
    const zip = await measured(child.pid, async () => {
      const response = await fetch(`${BASE}/v1/dossiers/${dossier.id}/documents-zip`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      if (response.status !== 200) throw new Error(`ZIP: ${response.status} ${await response.text()}`);
      let bytes = 0;
      for await (const chunk of response.body) bytes += chunk.length;
      return bytes;
    });

    // 3. JPEG → PDF: 2 MP scans, 8 at a time, each one stored with its PDF
    const jpegs = await measured(child.pid, () => concurrently(JPEGS, 8, (i) => upload(SCAN, `scan-${i}.jpg`, 'misc')));
    if (!jpegs.result.every((doc) => doc.hasPdf && doc.pages === 1)) throw new Error('a JPEG did not become a PDF');

    const figures = {
      uploads: UPLOADS,
      uploadMBps: Number((uploadedBytes / MB / uploads.seconds).toFixed(1)),
      uploadRssBeforeMB: Math.round(uploads.before / MB),
      uploadPeakRssMB: Math.round(uploads.peak / MB),
      zipDocuments: ids.length,
      zipMB: Math.round(zip.result / MB),
      zipMBps: Number((zip.result / MB / zip.seconds).toFixed(1)),
      zipRssGrowthMB: Math.round((zip.peak - zip.before) / MB),
      jpegImages: JPEGS,
      jpegMegapixels: 2.07,
      jpegPerSecond: Number((JPEGS / jpegs.seconds).toFixed(1)),
      jpegPeakRssMB: Math.round(jpegs.peak / MB),
    };
    figures.withinBudget =
      figures.uploadMBps >= 50 &&
      figures.uploadPeakRssMB < 300 &&
      figures.zipMBps >= 100 &&
      figures.zipRssGrowthMB < 50 &&
      figures.jpegPerSecond >= 50;
    console.log(JSON.stringify(figures));
  } finally {
    child.kill('SIGINT');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
