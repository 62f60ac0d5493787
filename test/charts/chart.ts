/** What the chart tests share: where things are, how Helm merges values files, how values are validated. */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject } from 'ajv';

export const repoRoot = join(__dirname, '..', '..');
export const chartDir = join(repoRoot, 'charts', 'platform');
export const environmentValuesDir = join(repoRoot, 'deploy', 'values');

export type Values = Record<string, any>;

export function readYaml(path: string): any {
  return parse(readFileSync(path, 'utf8'));
}

/** Every config of skaffold.yaml (one YAML document each), in the file's order, which is the order they deploy in. */
export const skaffoldConfigs = (): Values[] =>
  parseAllDocuments(readFileSync(join(repoRoot, 'skaffold.yaml'), 'utf8')).map((document) => document.toJS());

/** The skaffold.yaml config named `name` (metadata.name). */
export function skaffoldConfig(name: string): Values {
  const config = skaffoldConfigs().find((candidate) => candidate.metadata?.name === name);
  if (!config) throw new Error(`skaffold.yaml has no config named ${name}`);
  return config;
}

export const chartValues = (): Values => readYaml(join(chartDir, 'values.yaml'));
export const valuesSchema = (): Values => JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'));

export function environmentValuesFiles(): string[] {
  if (!existsSync(environmentValuesDir)) return [];
  return readdirSync(environmentValuesDir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => join(environmentValuesDir, name));
}

const isMap = (value: unknown): value is Values => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Helm's coalescing of a values file over the chart's values: maps merge key by key, anything else
 * (lists included) replaces, and null deletes a key the chart has (a null for a key it lacks stays, and
 * the schema then sees it).
 */
export function coalesce(base: Values, override: Values): Values {
  const merged: Values = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null && key in merged) delete merged[key];
    else if (isMap(value) && isMap(merged[key])) merged[key] = coalesce(merged[key], value);
    else merged[key] = value;
  }
  return merged;
}

/** The chart's values with the given overrides applied in order, as `helm install -f a -f b` does. */
export function valuesWith(...overrides: Values[]): Values {
  return overrides.reduce((values, override) => coalesce(values, override), chartValues());
}

const validateValues = new Ajv2020({
  allErrors: true,
  strict: true,
  allowUnionTypes: true,
  // `required` inside if/then/anyOf names properties declared one level up, which is valid JSON Schema.
  strictRequired: false,
}).compile(valuesSchema());

/** Every refusal of the schema as "<path> <message>", empty when the values are accepted. */
export function schemaProblems(values: Values): string[] {
  if (validateValues(values)) return [];
  return (validateValues.errors ?? []).map(describeError);
}

function describeError(error: ErrorObject): string {
  const extra =
    'additionalProperty' in error.params
      ? ` '${error.params.additionalProperty}'`
      : 'unevaluatedProperty' in error.params
        ? ` '${error.params.unevaluatedProperty}'`
        : '';
  return `${error.instancePath || '/'} ${error.message}${extra}`;
}

/** The workload names the chart deploys for the given values, as its templates derive them. */
export function componentNames(values: Values): string[] {
  return Object.keys(values.components);
}
