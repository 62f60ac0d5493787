#!/usr/bin/env node
/**
 * The embedded platform as `pnpm start` runs it (built): time from process start to "all services ready"
 * (the gateway's /readyz answers 200) on a fresh data folder and on a restart, then an authenticated
 * gateway request that makes one gRPC call (GET /v1/firm) under autocannon with 50 connections, measured
 * for BENCH_SECONDS (10) after BENCH_WARMUP_SECONDS (2) of the same load.
 * Budgets: start ≤ 15 s; ≥ 1,500 requests/s with p99 ≤ 50 ms.
 *
 *   pnpm run build && node test/bench/embedded-platform.bench.js
 *
 * Traces are sampled as the platform's default (parent-based, always on) unless OTEL_TRACES_SAMPLER and
 * OTEL_TRACES_SAMPLER_ARG say otherwise, e.g. `parentbased_traceidratio` and `0.1`; the sampler is printed
 * with the figures. Embedded mode has no trace backend, so spans get ids but record nothing; set
 * OTEL_EXPORTER_OTLP_ENDPOINT to measure with recording (and exporting) spans.
 * BENCH_NODE_ARGS passes node options to the platform, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see
 * where its time goes.
 */
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');

const MAIN = path.join(__dirname, '..', '..', 'deploy', 'embedded', 'dist', 'main.js');
const { embeddedNodeFlags } = require('./launch-flags');
const { cpuOf } = require('./process-figures');
const PORT = Number(process.env.BENCH_PORT ?? 18480);
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const SAMPLER = [process.env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on', process.env.OTEL_TRACES_SAMPLER_ARG]
  .filter(Boolean)
  .join(' ');

function start(dataDir) {
  const begun = process.hrtime.bigint();
  const child = spawn(process.execPath, [...embeddedNodeFlags(), ...NODE_ARGS, MAIN], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(PORT),
      GRPC_BASE_PORT: String(PORT + 100),
      SMTP_SINK_PORT: '0',
      LOG_LEVEL: 'error',
      RATE_LIMIT_PER_USER: '100000000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', async (chunk) => {
      output += chunk;
      if (!output.includes('Kantoor is running')) return;
      child.stdout.removeAllListeners('data');
      const ready = await fetch(`http://127.0.0.1:${PORT}/readyz`);
      const seconds = Number(process.hrtime.bigint() - begun) / 1e9;
      resolve({ child, seconds, ready: ready.status === 200 });
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}

function stop(child) {
  const begun = process.hrtime.bigint();
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve({ code, seconds: Number(process.hrtime.bigint() - begun) / 1e9 }));
    child.kill('SIGINT');
  });
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kantoor-bench-'));
  try {
    const fresh = await start(dataDir);
    const freshStop = await stop(fresh.child);
    const again = await start(dataDir);

    const demo = JSON.parse(readFileSync(path.join(dataDir, 'demo-login.json'), 'utf8'));
    const login = await fetch(`http://127.0.0.1:${PORT}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: demo.email, password: demo.password }),
    });
    const { accessToken } = await login.json();
    // steady state is what the budget is about: the first requests also compile the request path
    await autocannon({
      url: `http://127.0.0.1:${PORT}/v1/firm`,
      connections: 50,
      duration: WARMUP,
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const cpuBefore = cpuOf(again.child.pid);
    const clientCpuBefore = process.cpuUsage();
    const load = await autocannon({
      url: `http://127.0.0.1:${PORT}/v1/firm`,
      connections: 50,
      duration: DURATION,
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const cpuUsed = cpuOf(again.child.pid) - cpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const restartStop = await stop(again.child);
    const figures = {
      freshStartSeconds: Number(fresh.seconds.toFixed(2)),
      restartSeconds: Number(again.seconds.toFixed(2)),
      readyAfterStart: fresh.ready && again.ready,
      gracefulStopSeconds: Number(Math.max(freshStop.seconds, restartStop.seconds).toFixed(2)),
      cleanExit: freshStop.code === 0 && restartStop.code === 0,
      tracesSampler: SAMPLER,
      requestsPerSecond: Math.round(load.requests.average),
      p50Ms: load.latency.p50,
      p99Ms: load.latency.p99,
      // CPU time of the platform process (all its threads) per request: what the machine's load cannot hide
      platformCpuMsPerRequest: Number(((cpuUsed * 1000) / load.requests.total).toFixed(3)),
      // autocannon shares the machine's cores with the platform
      loadClientCpuMsPerRequest: Number(((clientCpu.user + clientCpu.system) / 1000 / load.requests.total).toFixed(3)),
      non2xx: load.non2xx,
      errors: load.errors,
    };
    figures.withinBudget =
      figures.freshStartSeconds <= 15 &&
      figures.requestsPerSecond >= 1500 &&
      figures.p99Ms <= 50 &&
      figures.non2xx === 0;
    console.log(JSON.stringify(figures));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
