/**
 * Typed settings read once at start from the environment. Every problem is collected, and the process
 * stops with one message naming each wrong or missing setting, before anything else happens.
 */
export interface Setting<T> {
  parse(raw: string | undefined, name: string): T;
  readonly secret: boolean;
  readonly description: string;
}

type Parser<T> = (raw: string, name: string) => T;

class SettingError extends Error {}

function setting<T>(parse: Parser<T>, options: SettingOptions<T>): Setting<T> {
  return {
    secret: options.secret ?? false,
    description: options.description ?? '',
    parse(raw, name) {
      if (raw === undefined || raw === '') {
        if ('default' in options) return options.default as T;
        if (options.optional) return undefined as T;
        throw new SettingError(`${name} is required${options.description ? ` (${options.description})` : ''}`);
      }
      return parse(raw, name);
    },
  };
}

export interface SettingOptions<T> {
  default?: T;
  optional?: boolean;
  secret?: boolean;
  description?: string;
}

export const settings = {
  string: (options: SettingOptions<string> = {}) => setting((raw) => raw, options),
  /** a secret key given as text (e.g. `openssl rand -hex 32`), at least `minBytes` long */
  key: (options: SettingOptions<string> & { minBytes: number }) =>
    setting((raw, name) => {
      if (Buffer.byteLength(raw, 'utf8') < options.minBytes)
        throw new SettingError(`${name} must be at least ${options.minBytes} bytes long (e.g. openssl rand -hex 32)`);
      return raw;
    }, options),
  integer: (options: SettingOptions<number> & { min?: number; max?: number } = {}) =>
    setting((raw, name) => {
      if (!/^-?\d+$/.test(raw)) throw new SettingError(`${name} must be a whole number, got "${raw}"`);
      const value = Number(raw);
      if (options.min !== undefined && value < options.min)
        throw new SettingError(`${name} must be at least ${options.min}`);
      if (options.max !== undefined && value > options.max)
        throw new SettingError(`${name} must be at most ${options.max}`);
      return value;
    }, options),
  port: (options: SettingOptions<number> = {}) =>
    setting((raw, name) => {
      const value = Number(raw);
      if (!/^\d+$/.test(raw) || value > 65535)
        throw new SettingError(`${name} must be a port number (0-65535), got "${raw}"`);
      return value;
    }, options),
  boolean: (options: SettingOptions<boolean> = {}) =>
    setting((raw, name) => {
      if (/^(true|1|yes)$/i.test(raw)) return true;
      if (/^(false|0|no)$/i.test(raw)) return false;
      throw new SettingError(`${name} must be true or false, got "${raw}"`);
    }, options),
  url: (options: SettingOptions<string> & { protocols?: string[] } = {}) =>
    setting((raw, name) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new SettingError(`${name} must be a URL`);
      }
      if (options.protocols && !options.protocols.includes(url.protocol.replace(/:$/, ''))) {
        throw new SettingError(`${name} must be a ${options.protocols.join(' or ')} URL`);
      }
      return raw;
    }, options),
  oneOf: <const V extends string>(values: readonly V[], options: SettingOptions<V> = {}) =>
    setting((raw, name) => {
      if (!(values as readonly string[]).includes(raw))
        throw new SettingError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as V;
    }, options),
  list: (options: SettingOptions<string[]> = {}) =>
    setting(
      (raw) =>
        raw
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      options,
    ),
  /** comma-separated numbers, e.g. a schedule in seconds (`5,300,1800`); decimals allowed */
  numbers: (options: SettingOptions<number[]> & { min?: number; max?: number; maxItems?: number } = {}) =>
    setting((raw, name) => {
      const items = raw.split(',').map((item) => item.trim());
      const values = items.map(Number);
      if (items.some((item, index) => item === '' || !Number.isFinite(values[index])))
        throw new SettingError(`${name} must be numbers separated by commas, got "${raw}"`);
      if (options.maxItems !== undefined && values.length > options.maxItems)
        throw new SettingError(`${name} must have at most ${options.maxItems} numbers`);
      if (options.min !== undefined && values.some((value) => value < options.min!))
        throw new SettingError(`${name} must have no number below ${options.min}`);
      if (options.max !== undefined && values.some((value) => value > options.max!))
        throw new SettingError(`${name} must have no number above ${options.max}`);
      return values;
    }, options),
  /** host:port */
  address: (options: SettingOptions<string> = {}) =>
    setting((raw, name) => {
      if (!/^[^\s:]+:\d{1,5}$/.test(raw)) throw new SettingError(`${name} must be host:port, got "${raw}"`);
      return raw;
    }, options),
};

export type SettingsSchema = Record<string, Setting<unknown>>;
export type ConfigOf<S extends SettingsSchema> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads every setting of `schema` from `env`; throws a ConfigError naming every problem at once. */
export function readConfig<S extends SettingsSchema>(schema: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(schema)) {
    try {
      config[name] = definition.parse(env[name], name);
    } catch (error) {
      if (error instanceof SettingError) problems.push(error.message);
      else throw error;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config) as ConfigOf<S>;
}

/** For main.ts: like readConfig, but a wrong setting stops the process with the message on stderr. */
export function loadConfigOrExit<S extends SettingsSchema>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<S> {
  try {
    return readConfig(schema, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/** The settings every service shares; a service spreads these into its own schema. */
export const commonSettings = {
  KANTOOR_MODE: settings.oneOf(['embedded', 'cluster'] as const, {
    default: 'embedded',
    description: 'which adapters to use',
  }),
  LOG_LEVEL: settings.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
    default: 'info',
  }),
  GRPC_PORT: settings.port({ default: 50051, description: 'port of the gRPC server' }),
  GRPC_HOST: settings.string({ default: '0.0.0.0' }),
  METRICS_PORT: settings.port({ default: 9464, description: 'Prometheus /metrics; 0 turns it off' }),
  DATABASE_URL: settings.url({
    optional: true,
    secret: true,
    protocols: ['postgres', 'postgresql'],
    description: 'PostgreSQL (cluster mode)',
  }),
  DATABASE_POOL_SIZE: settings.integer({ default: 10, min: 1, max: 200 }),
  DATA_DIR: settings.string({ default: '.data', description: 'embedded mode: folder for PGlite data and objects' }),
  CALLER_SIGNING_KEY: settings.key({
    optional: true,
    secret: true,
    minBytes: 32,
    description:
      'signs the caller identity of every gRPC call, the same key in every component (cluster mode; embedded makes one at each start)',
  }),
  KAFKA_BROKERS: settings.list({ default: [] }),
  KAFKA_CLIENT_ID: settings.string({ default: 'kantoor' }),
  KAFKA_SSL: settings.boolean({ default: false }),
  KAFKA_PARTITIONS_CONCURRENTLY: settings.integer({
    default: 4,
    min: 1,
    max: 64,
    description: 'partitions a consumer handles at once (cluster mode); each stays in order',
  }),
  KAFKA_TOPIC_PARTITIONS: settings.integer({
    default: 12,
    min: 1,
    max: 1000,
    description: "partitions of a topic the platform creates (a service's events; a dossier's stay on one)",
  }),
  KAFKA_TOPIC_REPLICATION_FACTOR: settings.integer({
    default: -1,
    min: -1,
    max: 10,
    description: "replicas of a topic the platform creates; -1: the brokers' default.replication.factor",
  }),
  KAFKA_SASL_MECHANISM: settings.oneOf(['plain', 'scram-sha-256', 'scram-sha-512'] as const, { optional: true }),
  KAFKA_SASL_USERNAME: settings.string({ optional: true }),
  KAFKA_SASL_PASSWORD: settings.string({ optional: true, secret: true }),
  OBJECT_STORE_ENDPOINT: settings.string({ optional: true }),
  OBJECT_STORE_PORT: settings.port({ default: 9000 }),
  OBJECT_STORE_USE_SSL: settings.boolean({ default: false }),
  OBJECT_STORE_ACCESS_KEY: settings.string({ optional: true, secret: true }),
  OBJECT_STORE_SECRET_KEY: settings.string({ optional: true, secret: true }),
  OBJECT_STORE_BUCKET: settings.string({ default: 'kantoor' }),
  SHUTDOWN_TIMEOUT_MS: settings.integer({ default: 15000, min: 0 }),
};

/** Cluster mode needs its infrastructure named; checked after parsing because it spans several settings. */
export function requireClusterSettings(
  config: ConfigOf<typeof commonSettings>,
  needs: { database?: boolean; kafka?: boolean; objects?: boolean },
): void {
  if (config.KANTOOR_MODE !== 'cluster') return;
  const problems: string[] = [];
  if (needs.database && !config.DATABASE_URL) problems.push('DATABASE_URL is required in cluster mode');
  if (!config.CALLER_SIGNING_KEY) problems.push('CALLER_SIGNING_KEY is required in cluster mode');
  if (needs.kafka && config.KAFKA_BROKERS.length === 0) problems.push('KAFKA_BROKERS is required in cluster mode');
  if (needs.kafka && config.KAFKA_SASL_MECHANISM && !config.KAFKA_SASL_PASSWORD)
    problems.push('KAFKA_SASL_PASSWORD is required with KAFKA_SASL_MECHANISM');
  if (needs.objects && !config.OBJECT_STORE_ENDPOINT)
    problems.push('OBJECT_STORE_ENDPOINT is required in cluster mode');
  if (needs.objects && (!config.OBJECT_STORE_ACCESS_KEY || !config.OBJECT_STORE_SECRET_KEY)) {
    problems.push('OBJECT_STORE_ACCESS_KEY and OBJECT_STORE_SECRET_KEY are required in cluster mode');
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

export { readOrCreateOwnerOnlyFile } from './owner-only-file';
