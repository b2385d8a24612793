/** `npm run monitoring`: writes infra/monitoring.yml (alarms, dashboard) from serverless.yml (infra/monitoring.ts). */
import { writeFileSync } from 'node:fs';
import { monitoringYaml } from '../infra/monitoring.ts';
import { loadYaml, ROOT } from '../infra/serverlessConfig.ts';

writeFileSync(`${ROOT}infra/monitoring.yml`, monitoringYaml(loadYaml('serverless.yml')));
console.log('wrote infra/monitoring.yml');
