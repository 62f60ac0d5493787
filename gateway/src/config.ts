import path from 'node:path';
import { commonSettings, ConfigError, readConfig, settings, type ConfigOf } from '@kantoor/config';

/** The gateway's settings; README.md has the same table for operators. */
export const gatewaySettings = {
  ...commonSettings,
  PORT: settings.port({ default: 8080, description: 'HTTP port of the public API' }),
  HOST: settings.string({ default: '0.0.0.0' }),
  OIDC_ISSUER: settings.url({
    optional: true,
    protocols: ['https', 'http'],
    description: "the firm's OpenID Connect issuer (cluster mode)",
  }),
  OIDC_AUDIENCE: settings.string({ default: 'kantoor', description: 'audience the OpenID Connect tokens must name' }),
  OIDC_JWKS_URI: settings.url({
    optional: true,
    protocols: ['https', 'http'],
    description: "the issuer's JWKS; default: from its discovery document",
  }),
  TOKEN_TTL_SECONDS: settings.integer({
    default: 3600,
    min: 60,
    max: 86400,
    description: 'lifetime of tokens the gateway issues (embedded mode)',
  }),
  REQUESTS_PER_LOOP_TURN: settings.integer({
    default: 0,
    min: 0,
    max: 100_000,
    description:
      'new requests begun per event-loop turn, the others in the next turns (0: no limit); embedded mode: 8, so the gateway and the services work side by side',
  }),
  RATE_LIMIT_WINDOW_SECONDS: settings.integer({ default: 60, min: 1 }),
  RATE_LIMIT_SHARED: settings.boolean({
    optional: true,
    description:
      'count the per-user and per-API-key limits across all gateway replicas, in the gateway database (a few tokens leased at a time); default: on in cluster mode, off in embedded mode (one gateway)',
  }),
  RATE_LIMIT_PER_USER: settings.integer({
    default: 600,
    min: 1,
    description: 'requests per window per staff member or portal user',
  }),
  RATE_LIMIT_PER_API_KEY: settings.integer({ default: 1200, min: 1, description: 'requests per window per API key' }),
  RATE_LIMIT_PER_IP: settings.integer({
    default: 120,
    min: 1,
    description: 'requests per window per address, for unauthenticated requests',
  }),
  RATE_LIMIT_LOGIN_PER_IP: settings.integer({
    default: 10,
    min: 1,
    description: 'login attempts per window per address',
  }),
  CORS_ORIGINS: settings.list({ default: [], description: 'browser origins allowed to call the API, comma separated' }),
  TRUST_PROXY: settings.string({
    default: 'loopback',
    description: "express 'trust proxy': which proxies may set X-Forwarded-For",
  }),
  JSON_BODY_LIMIT_BYTES: settings.integer({
    default: 1_048_576,
    min: 1024,
    description: 'largest JSON body a route accepts unless it says otherwise',
  }),
  UPLOAD_MAX_FILE_BYTES: settings.integer({
    default: 52_428_800,
    min: 1024,
    description:
      "largest uploaded file (one file, one scanned page); the intake's INTAKE_MAX_FILE_BYTES must allow it too",
  }),
  UPLOAD_MAX_REQUEST_BYTES: settings.integer({
    default: 524_288_000,
    min: 1024,
    description: 'largest multipart upload as a whole (a scan of many pages, several files at once)',
  }),
  UPLOAD_MAX_FILES_PER_REQUEST: settings.integer({
    default: 100,
    min: 1,
    max: 10_000,
    description: 'files of one multi-file upload; the ones past it are refused (too-many-files)',
  }),
  SCAN_MAX_PAGES: settings.integer({
    default: 200,
    min: 1,
    max: 10_000,
    description:
      'pages (file parts) of one scan; a longer scan is refused whole. The intake holds every page while merging and has no page cap of its own',
  }),
  IDEMPOTENCY_TTL_HOURS: settings.integer({ default: 24, min: 1, max: 24 * 30 }),
  VALIDATE_RESPONSES: settings.boolean({
    default: false,
    description: 'check every response against its schema (tests, development)',
  }),
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;

/** The settings a route may take its body limit from, so operators change it without a release. */
export type BodyLimitSetting = 'UPLOAD_MAX_FILE_BYTES' | 'UPLOAD_MAX_REQUEST_BYTES';

/** The numeric settings a route's description may name as `{SETTING}`, filled in with the value in force. */
export const DESCRIBED_SETTINGS = [
  'UPLOAD_MAX_FILE_BYTES',
  'UPLOAD_MAX_REQUEST_BYTES',
  'UPLOAD_MAX_FILES_PER_REQUEST',
  'SCAN_MAX_PAGES',
] as const;
export type DescribedSetting = (typeof DESCRIBED_SETTINGS)[number];

/** Reads and checks the settings; throws a ConfigError naming every problem. */
export function readGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const config = readConfig(gatewaySettings, env);
  const problems: string[] = [];
  if (config.KANTOOR_MODE === 'cluster') {
    if (!config.DATABASE_URL) problems.push('DATABASE_URL is required in cluster mode');
    if (!config.CALLER_SIGNING_KEY) problems.push('CALLER_SIGNING_KEY is required in cluster mode');
    if (!config.OIDC_ISSUER)
      problems.push('OIDC_ISSUER is required in cluster mode (the gateway issues no tokens there)');
  }
  if (config.UPLOAD_MAX_REQUEST_BYTES < config.UPLOAD_MAX_FILE_BYTES)
    problems.push(
      'UPLOAD_MAX_REQUEST_BYTES must be at least UPLOAD_MAX_FILE_BYTES (a request carries at least one file)',
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * The setting that tells the gateway where each service is: `<SERVICE>_GRPC_ADDRESS`, e.g.
 * DIRECTORY_GRPC_ADDRESS=kantoor-directory:50051 (the same name every service reads, and the chart sets).
 */
export const SERVICE_ADDRESS_SETTINGS = Object.fromEntries(
  ['directory', 'document-intake', 'archive', 'invoicing', 'backup', 'accounting-connector', 'notification'].map(
    (name) => [name, `${name.toUpperCase().replace(/-/g, '_')}_GRPC_ADDRESS`],
  ),
) as Readonly<Record<string, string>>;

/** The address of each service that has one in `env`; throws a ConfigError when the directory's is missing. */
export function readServiceAddresses(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const addresses: Record<string, string> = {};
  for (const [name, setting] of Object.entries(SERVICE_ADDRESS_SETTINGS))
    if (env[setting]) addresses[name] = env[setting];
  if (!addresses.directory) throw new ConfigError([`${SERVICE_ADDRESS_SETTINGS.directory} is required`]);
  return addresses;
}

/** Where the embedded token signing key lives: kept across restarts, so sessions survive them. */
export const tokenSigningKeyFile = (config: Pick<GatewayConfig, 'DATA_DIR'>): string =>
  path.resolve(config.DATA_DIR, 'gateway', 'token-signing-key.json');

export const GATEWAY_MIGRATIONS_DIR = path.resolve(__dirname, '..', 'migrations');
