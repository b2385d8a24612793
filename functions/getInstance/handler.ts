import { describeInstance } from '#shared/domain/operator';
import { createInternalHandler } from '#shared/http/internalRoute';

/** `GET /internal/instances/{instanceId}`: the instance without secrets, and its recent calls. */
export const handler = createInternalHandler(async (services, event) => {
  const instanceId = event.pathParameters?.instanceId ?? '';
  const view = instanceId ? await describeInstance(services, instanceId) : undefined;
  return view ? { status: 200, body: view } : { status: 404, body: { error: 'instance not found', instanceId } };
});
