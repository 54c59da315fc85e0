import { z } from 'zod';
import { AccelError } from '../errors';
import { checked, parse } from '../parse';
import type { JobContext } from '../workspace/jobs';
import { checkImageName, checkServiceName } from '../workspace/images';
import { checkName } from '../workspace/names';
import type { Workspace } from '../workspace/workspace';
import { deployService, type DeployOptions } from './deploy';

/** A service name by the CLI's rule (an RFC 1035 label: it names Kubernetes objects). */
export const serviceName = checked(checkServiceName);
const count = z.number().int().min(1);

/**
 * What a `deploy` job takes: the body of `POST /api/services` (docs/ui-api.md). Kept in the
 * job record and shown with it, so it never holds keys.
 */
export const deployJobInputs = z
  .object({
    name: serviceName,
    image: z
      .string()
      .regex(/^[^:]+(:[1-9][0-9]*)?$/, 'expected NAME[:VERSION] with a whole version')
      .pipe(checked((ref) => (checkImageName(ref.split(':')[0]!), ref))),
    compute: checked((name) => checkName('Compute target', name)),
    auth: z.boolean().optional(),
    replicas: count.optional(),
    autoscale: z
      .object({ min: count, max: count, targetUtilization: z.number().int().min(1).max(100) })
      .strict()
      .refine((a) => a.min <= a.max, { message: 'need 1 <= min <= max', path: ['max'] })
      .optional(),
    replace: serviceName.optional(),
    timeoutSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .strict();

export type DeployJobInputs = z.infer<typeof deployJobInputs>;

/** The CLI's default wait for Healthy (`accel deploy --timeout`). */
const DEFAULT_TIMEOUT_SECONDS = 300;

function deployOptions(inputs: DeployJobInputs): DeployOptions {
  const { timeoutSeconds = DEFAULT_TIMEOUT_SECONDS, ...rest } = inputs;
  return { ...rest, wait: true, timeoutMs: timeoutSeconds * 1000 };
}

/**
 * The `deploy` job: what `accel deploy` does, with the log in the job. Ends once the service is
 * Healthy; a deploy that fails leaves what the CLI leaves (a Failed service record, to look
 * at and delete) and fails the job with the service's error. The outputs never hold the keys:
 * job records are listed to anyone who may read the workspace's jobs.
 */
export async function runDeployJob(ctx: JobContext, ws: Workspace): Promise<Record<string, unknown>> {
  try {
    const inputs = parse(deployJobInputs, ctx.inputs, 'inputs');
    const { service, readyMs, downtimeMs } = await deployService(ws, deployOptions(inputs), (line) => void ctx.log(line));
    return {
      service: service.name,
      state: service.state,
      scoringUri: service.scoringUri,
      grpcUri: service.grpcUri,
      readySeconds: readyMs === undefined ? null : readyMs / 1000,
      ...(downtimeMs === undefined ? {} : { downtimeSeconds: downtimeMs / 1000 }),
    };
  } catch (err) {
    // The job record keeps only the message; the log keeps the catalogue code too.
    if (err instanceof AccelError) await ctx.log(err.code);
    throw err;
  }
}
