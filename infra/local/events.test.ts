/**
 * `npm start`'s event relay: the local table's stream, printed and forwarded to a webhook, signed, in
 * order, again after the webhook failed, each event printed once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from '#shared/provisioning/webhookProvisioner';
import { createTestTable } from '#shared/testing/table';
import { startLocalEventRelay, type LocalEventRelay } from './events.ts';

const SECRET = 'events-test-secret';
let server: Server;
let failuresLeft = 2;
const received: Array<{ id: string; signed: boolean; type: string }> = [];
const lines: string[] = [];
let relay: LocalEventRelay;
let table: Awaited<ReturnType<typeof createTestTable>>;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(503).end();
        return;
      }
      const event = JSON.parse(body) as { id: string; type: string };
      const signed = verifyWebhookSignature(SECRET, String(req.headers[TIMESTAMP_HEADER.toLowerCase()]), body, String(req.headers[SIGNATURE_HEADER.toLowerCase()]), Date.now(), 60_000);
      received.push({ id: event.id, type: event.type, signed });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  table = await createTestTable({ stream: true });
  relay = await startLocalEventRelay({
    endpoint: table.endpoint,
    tableName: table.tableName,
    webhook: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, secret: SECRET },
    intervalMs: 50,
    print: (line) => lines.push(line),
  });
});
afterAll(async () => {
  await relay?.stop();
  server?.close();
});

const put = (instanceId: string, status: string, version: number) =>
  table.documentClient.send(
    new PutCommand({
      TableName: table.tableName,
      Item: {
        pk: `INSTANCE#${instanceId}`,
        sk: 'INSTANCE',
        _et: 'Instance',
        instanceId,
        orderId: 'o',
        orderLineId: 'l',
        status,
        testFlag: false,
        chargingMode: 'PERIOD',
        trial: false,
        product: { skuCode: 's' },
        appliedOps: [],
        provisioningAttempts: 1,
        ...(status === 'ACTIVE' ? { appInfo: { frontEndUrl: 'https://t' } } : {}),
        createdAt: '2026-11-24T00:00:00.000Z',
        updatedAt: '2026-11-24T00:00:00.000Z',
        version,
      },
    }),
  );

it('forwards each event signed and in order, delivering again after the webhook failed, printing each once', async () => {
  await put('a', 'PROVISIONING', 1);
  await put('a', 'ACTIVE', 2);
  await put('b', 'PROVISIONING', 1);
  const deadline = Date.now() + 20_000;
  while (received.length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(failuresLeft).toBe(0);
  expect(received.map((r) => r.id)).toEqual([
    'instance/a/v1/instance.provisioning_requested',
    'instance/a/v2/instance.provisioned',
    'instance/a/v2/instance.active',
    'instance/b/v1/instance.provisioning_requested',
  ]);
  expect(received.every((r) => r.signed)).toBe(true);
  const printed = lines.filter((l) => l.startsWith('koogallery.'));
  expect(printed).toHaveLength(4);
  expect(printed[0]).toBe('koogallery.instance.provisioning_requested instance/a (instance/a/v1/instance.provisioning_requested)');
  expect(lines.some((l) => l.startsWith('could not forward'))).toBe(true);
});
