/**
 * The platform as the cluster deploys it, for benchmarks: the directory, document-intake and the gateway each in
 * a process of its own (cluster-process.js) on PostgreSQL, a scratch database each beside
 * KANTOOR_BENCH_POSTGRES (dropped by `stop()`), started with the node options of their images, and a firm whose
 * admin can sign in at the gateway. See cluster-process.js for how close to a pod each process is.
 */
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');

const { createWriteStream, mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createScratchPostgres } = require('../../packages/testing');
const { imageNodeOptions } = require('./launch-flags');

const COMPONENT = path.join(__dirname, 'cluster-process.js');
// every component signs and checks the callers of its calls with the same key, as the chart gives them
const CALLER_SIGNING_KEY = randomBytes(32).toString('hex');
const SERVER = process.env.KANTOOR_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One component in a process of its own; resolves with the process and its port once it serves. */
function startComponent(role, env, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, COMPONENT, role], {
    // the node options its image runs with
    env: {
      ...process.env,
      // BENCH_NODE_OPTIONS_GATEWAY (…_DIRECTORY, …_DOCUMENT_INTAKE) tries other options for one component
      NODE_OPTIONS:
        process.env[`BENCH_NODE_OPTIONS_${role.toUpperCase().replace(/-/g, '_')}`] ?? imageNodeOptions(role),
      KANTOOR_MODE: 'cluster',
      CALLER_SIGNING_KEY,
      METRICS_PORT: '0',
      LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onExit = (code) => reject(new Error(`${role} exited with ${code}: ${output}`));
    child.on('exit', onExit);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const line = output.split('\n').find((text) => text.startsWith('{"ready"'));
      if (!line) return;
      child.stdout.removeAllListeners('data');
      // BENCH_STDOUT_DIR keeps what each process prints after it is ready (e.g. node's --trace-gc)
      if (process.env.BENCH_STDOUT_DIR)
        child.stdout.pipe(createWriteStream(path.join(process.env.BENCH_STDOUT_DIR, `${role}.${child.pid}.log`)));
      else child.stdout.resume();
      child.off('exit', onExit);
      resolve({ child, port: JSON.parse(line).port });
    });
  });
}

async function stopComponent({ child }) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Starts directory, document-intake and gateway (HTTP on `gatewayPort`), registers a firm and resolves with
 * the running components, the admin's `login` (email, password) and `stop()`. Rate limits are lifted: a
 * benchmark is one user sending thousands of requests.
 */
async function startClusterPlatform({ gatewayPort, nodeArgs = [] }) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kantoor-cluster-bench-'));
  const databases = {};
  const running = [];
  const stop = async () => {
    for (const component of running.reverse()) await stopComponent(component);
    for (const database of Object.values(databases)) await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    process.env.KANTOOR_TEST_POSTGRES = SERVER;
    for (const role of ['directory', 'document-intake', 'gateway'])
      databases[role] = await createScratchPostgres('kantoor_bench');
    const common = { DATA_DIR: dataDir };
    const start = async (role, env) => {
      const component = await startComponent(role, { ...common, DATABASE_URL: databases[role].url, ...env }, nodeArgs);
      running.push(component);
      return component;
    };
    const directory = await start('directory', {});
    const directoryAddress = `127.0.0.1:${directory.port}`;
    const intake = await start('document-intake', { DIRECTORY_GRPC_ADDRESS: directoryAddress });
    const gateway = await start('gateway', {
      PORT: String(gatewayPort),
      DIRECTORY_GRPC_ADDRESS: directoryAddress,
      DOCUMENT_INTAKE_GRPC_ADDRESS: `127.0.0.1:${intake.port}`,
      RATE_LIMIT_PER_USER: '100000000',
      RATE_LIMIT_PER_API_KEY: '100000000',
      RATE_LIMIT_PER_IP: '100000000',
    });

    const login = { email: 'admin@bench.kantoor.localhost', password: randomBytes(12).toString('base64url') };
    const { createServiceClient, systemCaller } = require('../../packages/grpc');
    const { DirectoryService } = require('../../proto/dist/kantoor/directory/v1/directory_pb');
    const directoryClient = createServiceClient(DirectoryService, directoryAddress);
    try {
      await directoryClient.registerFirm(
        {
          name: 'Bench Accountants',
          functionalEmail: 'office@bench.kantoor.localhost',
          language: 'en',
          adminName: 'Bench Admin',
          adminEmail: login.email,
          adminPassword: login.password,
        },
        { caller: systemCaller('bench') },
      );
    } finally {
      directoryClient.close();
    }
    return { directory, intake, gateway, login, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

module.exports = { startClusterPlatform };
