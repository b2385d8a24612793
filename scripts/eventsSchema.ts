/** `npm run events-schema`: writes shared/events/integration-events.schema.json from shared/events/schema.ts. */
import { writeFileSync } from 'node:fs';
import { integrationEventsJsonSchema } from '../shared/events/schema.ts';

const file = new URL('../shared/events/integration-events.schema.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(integrationEventsJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
