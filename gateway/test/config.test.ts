/** The gateway's settings are checked once, at start: a wrong value stops it with every problem named. */
import { ConfigError } from '@kantoor/config';
import { readGatewayConfig } from '../src';

const read = (env: Record<string, string>) => readGatewayConfig({ DATA_DIR: '/nonexistent', ...env });

test('upload limits default to 50 MiB a file and 500 MiB a multipart request', () => {
  const config = read({});
  expect(config.UPLOAD_MAX_FILE_BYTES).toBe(50 * 1024 * 1024);
  expect(config.UPLOAD_MAX_REQUEST_BYTES).toBe(500 * 1024 * 1024);
  expect(read({ UPLOAD_MAX_FILE_BYTES: '209715200', UPLOAD_MAX_REQUEST_BYTES: '1073741824' })).toMatchObject({
    UPLOAD_MAX_FILE_BYTES: 200 * 1024 * 1024,
    UPLOAD_MAX_REQUEST_BYTES: 1024 * 1024 * 1024,
  });
});

test('an upload limit that is not a byte count, too small, or a request limit below the file limit is refused', () => {
  for (const env of [
    { UPLOAD_MAX_FILE_BYTES: '50MB' },
    { UPLOAD_MAX_FILE_BYTES: '10' },
    { UPLOAD_MAX_REQUEST_BYTES: '-1' },
  ])
    expect(() => read(env)).toThrow(new RegExp(Object.keys(env)[0]));
  try {
    read({ UPLOAD_MAX_FILE_BYTES: '104857600', UPLOAD_MAX_REQUEST_BYTES: '52428800' });
    throw new Error('accepted');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringContaining('UPLOAD_MAX_REQUEST_BYTES must be at least'),
    ]);
  }
});
