/**
 * A static look at the templates (helm itself may be missing): every values key a template reads must be
 * one the schema declares. Helm renders a misspelt key as empty without complaint, so this is where a
 * `.Values.kafka.broker` or `$v.autoscalling.enabled` gets caught.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chartDir, chartValues, repoRoot, valuesSchema } from './chart';

type Schema = Record<string, any>;
const schema = valuesSchema();

function resolve(node: Schema): Schema[] {
  const ref = node.$ref as string | undefined;
  const referenced = ref ? resolve(schema.$defs[ref.replace('#/$defs/', '')]) : [];
  const alternatives = (node.anyOf ?? []).flatMap(resolve);
  return [node, ...referenced, ...alternatives];
}

/** Schemas reached by following `segments` from `nodes`; empty when some segment is not declared. */
function navigate(nodes: Schema[], segments: string[]): Schema[] {
  let current = nodes;
  for (const segment of segments) {
    current = current.flatMap(resolve).flatMap((node): Schema[] => {
      if (node.properties?.[segment]) return [node.properties[segment]];
      if (typeof node.additionalProperties === 'object') return [node.additionalProperties];
      // A free-form object (affinity, a network peer) accepts any key below it.
      const freeForm =
        node.type === 'object' && !node.properties && node.additionalProperties === undefined && !node.$ref;
      return freeForm ? [{}] : [];
    });
    if (current.length === 0) return [];
  }
  return current;
}

/** What one element of a list or map schema can be. */
function elementsOf(node: Schema): Schema[] {
  if (node.items) return [node.items];
  if (typeof node.additionalProperties === 'object') return [node.additionalProperties];
  return Object.values(node.properties ?? {});
}

/** What one workload's `values` can hold: any of the component shapes. */
const workloadValues = [
  'gatewayComponent',
  'documentIntakeComponent',
  'notificationComponent',
  'serviceComponent',
  'connector',
].map((name) => schema.$defs[name]);
/** The fields kantoor.collectWorkloads gives each workload record. */
const workloadFields = new Set(['name', 'component', 'connector', 'protocol', 'entrypoint', 'values']);

function templateFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? templateFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const segmentsOf = (path: string) => path.split('.').filter(Boolean);

/** Unknown values keys a template reads, as "file: expression". */
function unknownReferences(file: string, text: string): string[] {
  const actions = [...text.matchAll(/\{\{-?([\s\S]*?)-?\}\}/g)].map((match) => match[1]);
  const aliases = new Map<string, Schema[]>();
  const problems: string[] = [];
  const where = relative(chartDir, file);

  const schemaOfExpression = (expression: string): Schema[] | undefined => {
    let match = /^(?:\$|\$root|\.root)?\.Values((?:\.[\w-]+)*)$/.exec(expression);
    if (match) return navigate([schema], segmentsOf(match[1]));
    match = /^(?:\$w|\.w)\.values((?:\.[\w-]+)*)$/.exec(expression);
    if (match) return navigate(workloadValues, segmentsOf(match[1]));
    match = /^(\$\w+)((?:\.[\w-]+)*)$/.exec(expression);
    if (match && aliases.has(match[1])) return navigate(aliases.get(match[1])!, segmentsOf(match[2]));
    return undefined;
  };

  for (const action of actions) {
    // Variables bound to part of the values, e.g. `$v := $w.values`, `$scaling := $w.values.autoscaling`;
    // `range $key, $item := ...` binds one element of the list or map.
    for (const [, ranged, name, expression] of action.matchAll(
      /(range\s+(?:\$\w+\s*,\s*)?)?(\$\w+)\s*:?=\s*\(?([$.][\w.$-]*)/g,
    )) {
      const bound = schemaOfExpression(expression);
      if (bound && bound.length > 0) aliases.set(name, ranged ? bound.flatMap(resolve).flatMap(elementsOf) : bound);
    }
    for (const [expression] of action.matchAll(
      /(?:\$root|\.root|\$)?\.Values(?:\.[\w]+)+|(?:\$w|\.w)\.values(?:\.\w+)*|\$\w+(?:\.\w+)+/g,
    )) {
      const field = /^(?:\$w|\.w)\.(\w+)/.exec(expression);
      if (field && !workloadFields.has(field[1])) problems.push(`${where}: ${expression} (not a workload field)`);
      const resolved = schemaOfExpression(expression);
      if (resolved !== undefined && resolved.length === 0) problems.push(`${where}: ${expression}`);
    }
  }
  return problems;
}

describe('chart templates', () => {
  const files = templateFiles(join(chartDir, 'templates'));

  it('read only values keys the schema declares', () => {
    const problems = files.flatMap((file) => unknownReferences(file, readFileSync(file, 'utf8')));
    expect(problems).toEqual([]);
  });

  it('would notice a misspelt key, a misspelt component key and an unknown workload field', () => {
    const probe = join(chartDir, 'templates', 'probe.yaml');
    expect(unknownReferences(probe, '{{ .Values.kafka.broker }}')).toEqual([
      'templates/probe.yaml: .Values.kafka.broker',
    ]);
    expect(unknownReferences(probe, '{{ $v := $w.values }}{{ if $v.autoscalling.enabled }}{{ end }}')).toEqual([
      'templates/probe.yaml: $v.autoscalling.enabled',
    ]);
    expect(
      unknownReferences(probe, '{{ $budget := $w.values.podDisruptionBudget }}{{ $budget.minAvaliable }}'),
    ).toEqual(['templates/probe.yaml: $budget.minAvaliable']);
    expect(unknownReferences(probe, '{{ $w.entrypiont }}')).toEqual([
      'templates/probe.yaml: $w.entrypiont (not a workload field)',
    ]);
    expect(
      unknownReferences(
        probe,
        '{{ $v := $w.values }}{{ $v.smtpIntake.service.type }}{{ $.Values.cronJobs.dailyBackup.schedule }}',
      ),
    ).toEqual([]);
  });

  it('schedule exactly the three tasks the schema knows, with the commands the services provide', () => {
    const cronJobs = readFileSync(join(chartDir, 'templates', 'cronjobs.yaml'), 'utf8');
    const tasks = [...cronJobs.matchAll(/"(\w+)" \(dict "component" "([\w-]+)" "command" "([\w-]+)"\)/g)].map((m) =>
      m.slice(1),
    );
    expect(tasks).toEqual([
      ['dailyBackup', 'backup', 'daily-backup'],
      ['archivePurge', 'archive', 'purge'],
      ['archiveVerify', 'archive', 'verify'],
    ]);
    expect(Object.keys(schema.properties.cronJobs.properties)).toEqual(tasks.map(([key]) => key));
  });

  it("turn on by default only the tasks whose command the service has (asked from the service's main.js)", () => {
    const cronJobs = readFileSync(join(chartDir, 'templates', 'cronjobs.yaml'), 'utf8');
    const tasks = [...cronJobs.matchAll(/"(\w+)" \(dict "component" "([\w-]+)" "command" "([\w-]+)"\)/g)];
    const defaults = chartValues().cronJobs;
    const verdicts = tasks.map(([, key, component, command]) => {
      // an unknown command makes a service name the ones it has, and exit before anything starts
      const main = join(repoRoot, 'services', component, 'dist', 'main.js');
      const answer = spawnSync(process.execPath, [main, 'no-such-command'], { encoding: 'utf8', timeout: 15_000 });
      expect(answer.status).toBe(64);
      const known = /it knows: ([\w, -]+) \(/.exec(answer.stderr)![1].split(', ');
      return { key, has: known.includes(command), enabled: defaults[key].enabled };
    });
    expect(verdicts.filter((task) => task.enabled && !task.has)).toEqual([]);
    expect(verdicts).toEqual(
      expect.arrayContaining([
        { key: 'archivePurge', has: true, enabled: true },
        { key: 'archiveVerify', has: true, enabled: true },
      ]),
    );
  });
});
