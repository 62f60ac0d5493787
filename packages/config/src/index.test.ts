import { ConfigError, commonSettings, readConfig, requireClusterSettings, settings } from './index';

describe('configuration', () => {
  test('every wrong or missing setting is named at once', () => {
    const schema = { PORT: settings.port(), MODE: settings.oneOf(['a', 'b'] as const), ISSUER: settings.url() };
    try {
      readConfig(schema, { PORT: 'eighty', MODE: 'c' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        'PORT must be a port number (0-65535), got "eighty"',
        'MODE must be one of a, b, got "c"',
        'ISSUER is required',
      ]);
    }
  });

  test('defaults, optionals, lists and booleans are typed', () => {
    const config = readConfig(
      {
        N: settings.integer({ default: 3 }),
        L: settings.list(),
        B: settings.boolean(),
        O: settings.string({ optional: true }),
      },
      { L: 'a, b,,c', B: 'yes' },
    );
    expect(config).toEqual({ N: 3, L: ['a', 'b', 'c'], B: true, O: undefined });
  });

  test('a list of numbers is read with decimals and refused with anything else, naming the setting', () => {
    const schema = { S: settings.numbers({ min: 0, maxItems: 3, default: [1] }) };
    expect(readConfig(schema, { S: '5, 0.5,300' }).S).toEqual([5, 0.5, 300]);
    expect(readConfig(schema, {}).S).toEqual([1]);
    expect(() => readConfig(schema, { S: '5,,6' })).toThrow('S must be numbers separated by commas, got "5,,6"');
    expect(() => readConfig(schema, { S: '5,soon' })).toThrow(/S must be numbers separated by commas/);
    expect(() => readConfig(schema, { S: '5,-1' })).toThrow('S must have no number below 0');
    expect(() => readConfig(schema, { S: '1,2,3,4' })).toThrow('S must have at most 3 numbers');
  });

  test('cluster mode requires its infrastructure', () => {
    const config = readConfig(commonSettings, { KANTOOR_MODE: 'cluster' });
    expect(() => requireClusterSettings(config, { database: true, kafka: true })).toThrow(
      /DATABASE_URL is required in cluster mode[\s\S]*CALLER_SIGNING_KEY is required in cluster mode[\s\S]*KAFKA_BROKERS is required/,
    );
    const embedded = readConfig(commonSettings, {});
    expect(() => requireClusterSettings(embedded, { database: true })).not.toThrow();
  });

  test('the caller signing key is refused when shorter than 32 bytes, naming the setting', () => {
    expect(() => readConfig(commonSettings, { CALLER_SIGNING_KEY: 'too-short' })).toThrow(
      /CALLER_SIGNING_KEY must be at least 32 bytes long/,
    );
    const key = 'f'.repeat(64);
    expect(readConfig(commonSettings, { CALLER_SIGNING_KEY: key }).CALLER_SIGNING_KEY).toBe(key);
  });
});
