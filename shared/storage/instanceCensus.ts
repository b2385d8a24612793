/**
 * How many instances are in each state, for `npm run ops -- status`. The table has no index by state,
 * so this is an operator-run Scan (paginated, only the key and the status read back: ProjectionExpression,
 * filtered to the Instance items). It is never run by a scheduled job or a callback — those use the byDue
 * index — and costs one read of the whole table per run: run it by hand, not in a loop.
 */
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface InstanceCensus {
  /** instances by status (PROVISIONING, ACTIVE, FROZEN, RELEASED, FAILED), debug (testFlag) ones counted apart */
  byState: Map<string, { production: number; debug: number }>;
  /** items the scan read (all of the table) */
  scanned: number;
}

export async function instanceCensus(client: DynamoDBDocumentClient, tableName: string): Promise<InstanceCensus> {
  const byState = new Map<string, { production: number; debug: number }>();
  let scanned = 0;
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'sk = :sk AND begins_with(pk, :pk)',
        ProjectionExpression: '#status, testFlag',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':sk': 'INSTANCE', ':pk': 'INSTANCE#' },
        ExclusiveStartKey,
      }),
    );
    scanned += page.ScannedCount ?? 0;
    for (const item of page.Items ?? []) {
      const status = String(item.status ?? '(none)');
      const counts = byState.get(status) ?? { production: 0, debug: 0 };
      counts[item.testFlag === true ? 'debug' : 'production']++;
      byState.set(status, counts);
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return { byState, scanned };
}
