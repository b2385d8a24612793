import { describeInstance } from '#shared/domain/operator';
import { createInternalHandler, pathId } from '#shared/http/internalRoute';

/** `GET /internal/instances/{instanceId}`: the instance without secrets, and its recent calls. */
export const handler = createInternalHandler(async (services, event) => {
  const path = pathId(event, 'instanceId');
  if ('refused' in path) return path.refused;
  const view = await describeInstance(services, path.id);
  return view ? { status: 200, body: view } : { status: 404, body: { error: 'instance not found', instanceId: path.id } };
});
