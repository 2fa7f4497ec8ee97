import { UnknownValueError, type PolicyResource as PackResource } from '@pulumi/policy';
import { UNKNOWN, type PolicyResource } from '../policies';

/**
 * @pulumi/policy hands a stack policy each resource's properties behind a proxy that throws
 * UnknownValueError on reading any value the engine sent as unknown (during preview: whatever is
 * computed from another resource's outputs); the pack then reports the whole policy as "can't run
 * during preview" at advisory level. Reading everything here once, with each unknown replaced by
 * UNKNOWN, lets every policy judge what is known and name precisely what waits for the update.
 */
export function plainValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const read = (key: string | number): unknown => {
    try {
      return plainValue((value as Record<string | number, unknown>)[key]);
    } catch (error) {
      if (error instanceof UnknownValueError) return UNKNOWN;
      throw error;
    }
  };
  if (Array.isArray(value)) return Array.from({ length: value.length }, (_, i) => read(i));
  return Object.fromEntries(Object.keys(value).map((key) => [key, read(key)]));
}

/** One stack resource as the policies read it: plain properties, and the custom timeouts the engine reports. */
export function fromPack(resource: Pick<PackResource, 'type' | 'name' | 'props' | 'opts'>): PolicyResource {
  const timeouts = resource.opts?.customTimeouts;
  return {
    type: resource.type,
    name: resource.name,
    props: plainValue(resource.props) as Record<string, unknown>,
    ...(timeouts ? { options: { customTimeouts: { createSeconds: timeouts.createSeconds, updateSeconds: timeouts.updateSeconds, deleteSeconds: timeouts.deleteSeconds } } } : {}),
  };
}
