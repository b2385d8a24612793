/**
 * A probe in front of DynamoDB for tests and the bench: it counts the requests the store sends, by
 * command, and can fail or time out a seeded share of them. It is the outermost middleware of the
 * store's own client, so every request of every code path passes through it once (SDK retries happen
 * inside it and are not counted), and an injected fault is not retried by the SDK: the store sees it.
 * A fault may strike before the request is sent (nothing happened) or after DynamoDB applied it (the
 * answer was lost: the write happened but the caller cannot know) — the case retries must survive.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getRuntime } from '../runtime.ts';
import { Store } from '../storage/store.ts';
import { seededRandom } from './seededRandom.ts';

export type DynamoCommand = string;

export interface DynamoFaultPlan {
  /** share of requests to fail, 0..1 */
  rate: number;
  /** seed of the fault sequence: the same seed fails the same request numbers */
  seed: number;
  /** `error`: the request fails at once (as a 500 would); `timeout`: it fails after `delayMs` */
  mode?: 'error' | 'timeout' | 'mixed';
  /** `before` the request is sent, `after` DynamoDB applied it (answer lost), or `either` (default) */
  when?: 'before' | 'after' | 'either';
  delayMs?: number;
  /** only these commands (default: all) */
  commands?: readonly DynamoCommand[];
}

export interface DynamoProbe {
  /** requests sent since the last reset, by command name (`TransactWriteItemsCommand`, …) */
  counts(): Record<DynamoCommand, number>;
  /** how many requests were failed on purpose since the last reset */
  faults(): number;
  reset(): void;
  injectFaults(plan: DynamoFaultPlan | undefined): void;
  remove(): void;
}

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
  readonly $metadata = { httpStatusCode: 500 };
  readonly $fault = 'server';
}


const NAME = 'koogallery-dynamo-probe';

export function probeDynamo(client: DynamoDBDocumentClient): DynamoProbe {
  let counts: Record<string, number> = {};
  let injected = 0;
  let plan: DynamoFaultPlan | undefined;
  let random = seededRandom(0);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String((context as { commandName?: string }).commandName ?? 'unknown');
      counts[command] = (counts[command] ?? 0) + 1;
      const active = plan;
      if (!active || (active.commands && !active.commands.includes(command)) || random() >= active.rate) return next(args);
      injected++;
      const timeout = active.mode === 'timeout' || (active.mode === 'mixed' && random() < 0.5);
      const afterApplied = active.when === 'after' || ((active.when ?? 'either') === 'either' && random() < 0.5);
      if (afterApplied) await next(args).catch(() => undefined);
      if (timeout) await new Promise((resolve) => setTimeout(resolve, active.delayMs ?? 50));
      throw new InjectedFault(`${command} ${timeout ? 'timed out' : 'failed'}${afterApplied ? ' after it was applied' : ''} (injected)`);
    },
    // outermost: one count per store request, SDK retries inside, injected faults not retried
    { step: 'initialize', priority: 'high', name: NAME, override: true },
  );
  return {
    counts: () => ({ ...counts }),
    faults: () => injected,
    reset() {
      counts = {};
      injected = 0;
    },
    injectFaults(next) {
      plan = next;
      random = seededRandom(next?.seed ?? 0);
    },
    remove: () => void client.middlewareStack.remove(NAME),
  };
}

/** The probe on the running service's store (call after startHarness). */
export async function probeRuntime(): Promise<DynamoProbe> {
  const { store } = (await getRuntime()).services;
  if (!(store instanceof Store)) throw new Error('probeRuntime: the runtime store is not a DynamoDB Store');
  return probeDynamo(store.documentClient);
}

const WRITE_COMMANDS = ['TransactWriteItemsCommand', 'PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand'];

/** Write round trips among counted requests. */
export const writeRoundTrips = (counts: Record<DynamoCommand, number>): number =>
  WRITE_COMMANDS.reduce((sum, command) => sum + (counts[command] ?? 0), 0);
