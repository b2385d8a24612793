/** The sample events under events/, signed afresh as `npm run invoke` does. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { prepareEvent } from '../../scripts/invoke.ts';
import { ACCESS_KEY } from './harness.ts';

export function sampleEvent(name: string, now = new Date()): APIGatewayProxyEvent {
  const file = fileURLToPath(new URL(`../../events/${name}.json`, import.meta.url));
  return prepareEvent(JSON.parse(readFileSync(file, 'utf8')), { accessKey: ACCESS_KEY, now }) as APIGatewayProxyEvent;
}
