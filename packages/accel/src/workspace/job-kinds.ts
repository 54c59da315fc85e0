import { AccelError } from '../errors';
import { JobKinds } from './jobs';
import type { Workspace } from './workspace';

/**
 * The job kinds a workspace runs out of the box. Later features (convert, quantize, image
 * build) add theirs here; tests build their own registry.
 */
export function defaultJobKinds(): JobKinds<Workspace> {
  return new JobKinds<Workspace>().register('verify', async (ctx, ws) => {
    await ctx.log(`verifying every blob of ${ws.dir}`);
    const report = await ws.verify((done, total) => void ctx.progress('hashed', Math.round(done / 1e6), Math.round(total / 1e6), 'MB'));
    for (const m of report.missing) await ctx.log(`missing ${m.digest} (used by ${m.usedBy.join(', ')})`);
    for (const c of report.corrupt) await ctx.log(`corrupt ${c.digest} (content hashes to ${c.actual})`);
    await ctx.log(`${report.blobs} blobs, ${(report.bytes / 1e6).toFixed(1)} MB in ${report.seconds.toFixed(2)} s`);
    if (!report.ok) {
      throw new AccelError('ACCEL_ERR_INTERNAL', { reason: `${report.missing.length} missing and ${report.corrupt.length} corrupt blobs` });
    }
    return { blobs: report.blobs, bytes: report.bytes, seconds: report.seconds };
  })
    .register('convert', async (ctx, ws) => (await import('../convert/job')).runConvertJob(ctx, ws))
    .register('image-build', async (ctx, ws) => (await import('../image/job')).runImageBuildJob(ctx, ws))
    .register('quantize', async (ctx, ws) => (await import('../quantize/job')).runQuantizeJob(ctx, ws))
    .register('deploy', async (ctx, ws) => (await import('../deploy/job')).runDeployJob(ctx, ws));
}
