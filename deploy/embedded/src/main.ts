import '@kantoor/telemetry/register';
import path from 'node:path';
import { ConfigError, readConfig, settings } from '@kantoor/config';
import { Lifecycle } from '@kantoor/lifecycle';
import { createLogger } from '@kantoor/logging';
import { shutdownTelemetry } from '@kantoor/telemetry';
import { startEmbeddedPlatform } from './start-platform';

const embeddedSettings = {
  PORT: settings.port({ default: 8080, description: 'gateway port' }),
  // Below Linux's range of ports for outgoing connections (32768–60999): with gRPC's usual 50051 an outgoing
  // loopback connection that happened to hold one of the seven ports made a start fail (seen once, right after
  // a load test). The cluster keeps 50051: each pod has its own addresses.
  GRPC_BASE_PORT: settings.port({ default: 28051, description: 'first service port; the others follow' }),
  SMTP_SINK_PORT: settings.port({ default: 2526, description: 'the local SMTP sink that receives every mail sent' }),
  INTAKE_SMTP_PORT: settings.port({
    default: 2525,
    description: "e-mail intake for the dossiers' intake addresses; 0 turns it off",
  }),
  DATA_DIR: settings.string({ default: '.data' }),
  LOG_LEVEL: settings.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
    default: 'warn',
  }),
};

/** `pnpm start`: the whole platform in this process, on this machine, with nothing else installed. */
async function main(): Promise<void> {
  const started = Date.now();
  let config;
  try {
    config = readConfig(embeddedSettings);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const dataDir = path.resolve(config.DATA_DIR);
  const logger = createLogger({ service: 'embedded', level: config.LOG_LEVEL });
  const lifecycle = new Lifecycle(logger, 20_000);
  lifecycle.installSignalHandlers();
  // registered first, so closed last (each service thread ends its own when it stops)
  lifecycle.onShutdown('telemetry', shutdownTelemetry);
  const platform = await startEmbeddedPlatform({
    dataDir,
    port: config.PORT,
    grpcBasePort: config.GRPC_BASE_PORT,
    smtpSinkPort: config.SMTP_SINK_PORT,
    intakeSmtpPort: config.INTAKE_SMTP_PORT,
    logLevel: config.LOG_LEVEL,
    // no half a platform: a service that dies takes the rest down, with an exit code that says so
    onServiceFailure: (service) => void lifecycle.shutdown(`the ${service} service failed`).then(() => process.exit(1)),
  });
  lifecycle.onShutdown('platform', () => platform.stop());
  lifecycle.setReady(true);

  const url = `http://localhost:${platform.gateway.port}`;
  process.stdout.write(
    [
      '',
      `Kantoor is running (embedded, ready in ${((Date.now() - started) / 1000).toFixed(1)} s).`,
      `  API:          ${url}   (documentation: ${url}/docs, OpenAPI: ${url}/openapi.json)`,
      `  Log in:       POST ${url}/v1/auth/login  {"email": "${platform.demo.email}", "password": "${platform.demo.password}"}`,
      `                then send "Authorization: Bearer <accessToken>" with every request`,
      `  Sent mail:    GET ${url}/v1/mailbox/messages as the admin (SMTP sink on 127.0.0.1:${platform.sink.port})`,
      ...(config.INTAKE_SMTP_PORT > 0
        ? [`  E-mail intake: SMTP on 127.0.0.1:${config.INTAKE_SMTP_PORT} (the dossiers' intake addresses)`]
        : []),
      `  Data folder:  ${dataDir}`,
      '  Stop with Ctrl-C.',
      '',
    ].join('\n'),
  );
}

main().catch((error) => {
  process.stderr.write(`Kantoor could not start: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
