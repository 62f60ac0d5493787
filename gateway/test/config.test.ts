/** The gateway's settings are checked once, at start: a wrong value stops it with every problem named. */
import { ConfigError } from '@kantoor/config';
import { readGatewayConfig, readServiceAddresses } from '../src';

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
  ] as Array<Record<string, string>>)
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

test('the files of a multi-file upload and the pages of a scan default to 100 and 200, and can be set', () => {
  expect(read({})).toMatchObject({ UPLOAD_MAX_FILES_PER_REQUEST: 100, SCAN_MAX_PAGES: 200 });
  expect(read({ UPLOAD_MAX_FILES_PER_REQUEST: '5', SCAN_MAX_PAGES: '1000' })).toMatchObject({
    UPLOAD_MAX_FILES_PER_REQUEST: 5,
    SCAN_MAX_PAGES: 1000,
  });
});

test('a file or page cap that is not a count from 1 to 10000 stops the gateway at start, naming the setting', () => {
  for (const [name, value] of [
    ['UPLOAD_MAX_FILES_PER_REQUEST', 'many'],
    ['UPLOAD_MAX_FILES_PER_REQUEST', '0'],
    ['SCAN_MAX_PAGES', '2.5'],
    ['SCAN_MAX_PAGES', '10001'],
  ]) {
    try {
      read({ [name]: value });
      throw new Error(`${name}=${value} was accepted`);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      // main.ts prints this message and exits with 78
      expect((error as ConfigError).message).toContain(name);
      expect((error as ConfigError).problems).toEqual([expect.stringMatching(new RegExp(`^${name} must be`))]);
    }
  }
});

test("service addresses come from <SERVICE>_GRPC_ADDRESS, and the directory's is required", () => {
  expect(
    readServiceAddresses({
      DIRECTORY_GRPC_ADDRESS: 'kantoor-directory:50051',
      DOCUMENT_INTAKE_GRPC_ADDRESS: 'kantoor-document-intake:50051',
      DIRECTORY_ADDRESS: 'elsewhere:1',
    }),
  ).toEqual({ directory: 'kantoor-directory:50051', 'document-intake': 'kantoor-document-intake:50051' });
  expect(() => readServiceAddresses({ ARCHIVE_GRPC_ADDRESS: 'kantoor-archive:50051' })).toThrow(
    new ConfigError(['DIRECTORY_GRPC_ADDRESS is required']),
  );
});
