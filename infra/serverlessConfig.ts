/**
 * serverless.yml (and the CloudFormation files it includes) read as data, CloudFormation's short forms
 * (`!GetAtt A.B`, `!Join [...]`, `!Ref X`, …) kept as their long forms. For the checks of the deployment
 * (infra/iam.test.ts, infra/monitoring.test.ts) and the generated monitoring (infra/monitoring.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** js-yaml types for the CloudFormation short forms. */
export const CFN_SCHEMA = yaml.DEFAULT_SCHEMA.extend(
  (['scalar', 'sequence', 'mapping'] as const).flatMap((kind) =>
    ['Ref', 'GetAtt', 'Join', 'Sub', 'Select', 'Split', 'If', 'Equals', 'Not', 'And', 'Or', 'FindInMap', 'ImportValue', 'Base64', 'GetAZs', 'Cidr', 'Condition'].map(
      (name) =>
        new yaml.Type(`!${name}`, {
          kind,
          construct: (data: unknown) =>
            name === 'Ref' ? { Ref: data } : name === 'GetAtt' && typeof data === 'string' ? { 'Fn::GetAtt': data.split('.') } : { [`Fn::${name}`]: data },
        }),
    ),
  ),
);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Yaml = any;

/** A YAML file of the project (path relative to the project root) with the CloudFormation short forms. */
export function loadYaml(relativePath: string): Yaml {
  return yaml.load(readFileSync(`${ROOT}${relativePath}`, 'utf8'), { schema: CFN_SCHEMA });
}

/** The environment variables that hold secrets: passed through on the local stage only (serverless.yml params). */
export const SECRET_ENV_NAMES = [
  'KOOGALLERY_ACCESS_KEY',
  'KOOGALLERY_AK',
  'KOOGALLERY_SK',
  'KOOGALLERY_DATA_KEY',
  'KOOGALLERY_KIT_ACCESS_KEY',
  'KOOGALLERY_V1_KEY',
  'KOOGALLERY_LICENSE_SIGNING_KEY',
  'PROVISIONER_WEBHOOK_SECRET',
  'KOOGALLERY_KIT_PRIVATE_KEY',
] as const;

/** A function's schedule expressions (`rate(…)` / `cron(…)`); none for a function that is not a job. */
export const schedulesOf = (fn: Yaml): string[] =>
  (fn.events ?? []).flatMap((e: Yaml) => (e.schedule === undefined ? [] : [typeof e.schedule === 'string' ? e.schedule : e.schedule.rate]));

/** The scheduled jobs of a serverless.yml, by name. */
export const scheduledFunctions = (config: Yaml): string[] => Object.keys(config.functions ?? {}).filter((fn) => schedulesOf(config.functions[fn]).length > 0);
