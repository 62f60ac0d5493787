/**
 * The settings each component's code reads, taken from the code itself: the gateway's settings and service
 * addresses, and for a service the common settings (run-service-main reads them) plus every settings
 * definition its `src/config.ts` exports. What the chart gives a process is checked against this.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { commonSettings, type SettingsSchema } from '@kantoor/config';
import { gatewaySettings, SERVICE_ADDRESS_SETTINGS } from '@kantoor/gateway';
import { repoRoot } from './chart';

/**
 * Read by the OpenTelemetry SDK that packages/telemetry starts in every process (its specification's
 * OTEL_* variables), not by a settings definition of ours.
 */
export const OPEN_TELEMETRY_SETTINGS = ['OTEL_SERVICE_NAME', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_RESOURCE_ATTRIBUTES'];

const isSettingsSchema = (value: unknown): value is SettingsSchema =>
  typeof value === 'object' &&
  value !== null &&
  Object.keys(value).length > 0 &&
  Object.values(value).every((setting) => typeof setting?.parse === 'function' && typeof setting?.secret === 'boolean');

/** Every settings definition `services/<name>/src/config.ts` exports (none when it has no config.ts). */
function serviceSettings(name: string): string[] {
  const file = join(repoRoot, 'services', name, 'src', 'config.ts');
  if (!existsSync(file)) return [];
  return Object.values(require(file) as Record<string, unknown>)
    .filter(isSettingsSchema)
    .flatMap((schema) => Object.keys(schema));
}

export const serviceNames = (): string[] =>
  readdirSync(join(repoRoot, 'services'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(repoRoot, 'services', entry.name, 'src', 'main.ts')))
    .map((entry) => entry.name)
    .sort();

/** component name (gateway, directory, ..., accounting-connector) → the settings its process reads */
export function settingsReadByComponent(): Map<string, Set<string>> {
  const read = new Map<string, Set<string>>();
  read.set(
    'gateway',
    new Set([...Object.keys(gatewaySettings), ...Object.values(SERVICE_ADDRESS_SETTINGS), ...OPEN_TELEMETRY_SETTINGS]),
  );
  for (const name of serviceNames())
    read.set(name, new Set([...Object.keys(commonSettings), ...serviceSettings(name), ...OPEN_TELEMETRY_SETTINGS]));
  return read;
}
