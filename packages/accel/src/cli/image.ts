import { Command } from 'commander';
import { parseModelRef, parsePairs } from '../workspace/names';
import type { ImageRecord } from '../workspace/types';
import { collect, formatBytes, progressPrinter, withWorkspace, workspaceCommand, type CommonFlags } from './common';
import { jobExitCode } from './job';
import { emit, EXIT, renderTable } from './output';

function imageRow(i: ImageRecord): string[] {
  return [i.id, i.state, i.digest ? i.digest.slice(0, 19) : '-', i.size ? formatBytes(i.size) : '-', i.models.join(','), i.location, i.createdAt];
}
const HEADERS = ['IMAGE', 'STATE', 'DIGEST', 'SIZE', 'MODELS', 'LOCATION', 'CREATED'];

/** `accel image`: build, list, inspect, push and delete container images. */
export function imageCommand(): Command {
  const image = new Command('image').description('Container images (OCI) holding the server and models: create, list, show, logs, push, delete');

  image.addCommand(
    workspaceCommand('create', 'Build an OCI image of the server and the given models, without a Docker daemon, as a job')
      .argument('<name>', 'image name: lowercase letters, digits, ".", "_", "-"')
      .requiredOption('--model <model>', 'NAME[:VERSION] of a registered ONNX model (repeatable)', collect, [])
      .option('--tag <key=value>', 'tag (repeatable)', collect, [])
      .option('--no-wait', 'print the job id and return')
      .action(async (name: string, flags: CommonFlags & { model: string[]; tag: string[]; wait: boolean }) => {
        const code = await withWorkspace(flags, async (ws, format) => {
          const models = [];
          for (const ref of flags.model) {
            const { name: m, version } = parseModelRef(ref);
            models.push((await ws.getModel(m, version)).id);
          }
          const record = await ws.createImageRecord({ name, models, tags: parsePairs('--tag', flags.tag) });
          const handle = await ws.startJob('image-build', { name, version: record.version }, { detached: !flags.wait });
          await ws.updateImage(name, record.version, { jobId: handle.id });
          if (!flags.wait) {
            emit(format, { image: record.id, job: handle.id, state: 'Building' }, () => `${record.id} building: job ${handle.id}\nfollow it with: accel image logs ${record.id} --follow`);
            return EXIT.OK;
          }
          const job = await handle.waitForCompletion({ showOutput: true });
          const built = await ws.getImage(name, record.version);
          emit(format, built, () => (built.state === 'Succeeded' ? renderTable(HEADERS, [imageRow(built)]) : `image ${built.id}: ${built.state}: ${built.error}`));
          return jobExitCode(job);
        });
        process.exitCode = code;
      }),
  );

  image.addCommand(
    workspaceCommand('list', 'List images, newest first')
      .option('--name <name>', 'only this image')
      .action(async (flags: CommonFlags & { name?: string }) => {
        await withWorkspace(flags, async (ws, format) => {
          const images = await ws.listImages({ name: flags.name });
          emit(format, images, () => renderTable(HEADERS, images.map(imageRow)));
        });
      }),
  );

  image.addCommand(
    workspaceCommand('show', 'Show an image version (the latest by default)')
      .argument('<image>', 'NAME[:VERSION]')
      .action(async (ref: string, flags: CommonFlags) => {
        await withWorkspace(flags, async (ws, format) => {
          const { name, version } = parseModelRef(ref);
          const i = await ws.getImage(name, version);
          emit(format, { ...i, path: ws.imageDir(i) }, () =>
            renderTable(['FIELD', 'VALUE'], [['image', i.id], ['state', i.state], ['digest', i.digest || '-'], ['size', i.size ? formatBytes(i.size) : '-'], ['models', i.models.join(', ')], ['location', ws.imageDir(i)], ['tags', Object.entries(i.tags).map(([k, v]) => `${k}=${v}`).join(', ') || '-'], ['build job', i.jobId || '-'], ['error', i.error || '-'], ['created', i.createdAt]]),
          );
        });
      }),
  );

  image.addCommand(
    workspaceCommand('logs', "Print an image's build log (kept for failed builds too)")
      .argument('<image>', 'NAME[:VERSION]')
      .option('--follow', 'keep printing until the build ends')
      .action(async (ref: string, flags: CommonFlags & { follow?: boolean }) => {
        await withWorkspace(flags, async (ws, format) => {
          const { name, version } = parseModelRef(ref);
          const i = await ws.getImage(name, version);
          if (flags.follow) {
            await ws.jobHandle(i.jobId).waitForCompletion({ showOutput: true, out: process.stdout });
            return;
          }
          const chunks = await ws.store.jobLog(i.jobId);
          emit(format, chunks, () => chunks.map((c) => c.text).join('').trimEnd());
        });
      }),
  );

  image.addCommand(
    workspaceCommand('push', 'Push an image to a registry over the OCI distribution API')
      .argument('<image>', 'NAME[:VERSION]')
      .argument('<destination>', 'REGISTRY[:PORT]/REPOSITORY[:TAG]')
      .option('--insecure', 'plain HTTP (a registry on this machine or a private network)')
      .action(async (ref: string, destination: string, flags: CommonFlags & { insecure?: boolean }) => {
        await withWorkspace(flags, async (ws, format) => {
          const { name, version } = parseModelRef(ref);
          const i = await ws.getImage(name, version);
          if (i.state !== 'Succeeded') {
            const { AccelError } = await import('../errors');
            throw new AccelError('ACCEL_ERR_USAGE', { reason: `image ${i.id} is ${i.state}: nothing to push` });
          }
          const { pushImage } = await import('../image/push');
          const progress = progressPrinter(`pushing ${i.id}`);
          const t0 = performance.now();
          const pushed = await pushImage(ws.imageDir(i), destination, { insecure: flags.insecure, onProgress: (done: number, total: number) => progress(done, total) });
          const seconds = (performance.now() - t0) / 1000;
          emit(format, { image: i.id, destination, digest: pushed.digest, seconds }, () => `pushed ${i.id} to ${destination} (${pushed.digest}) in ${seconds.toFixed(1)} s`);
        });
      }),
  );

  image.addCommand(
    workspaceCommand('delete', 'Delete an image version (refused while a service uses it, unless --cascade)')
      .argument('<image>', 'NAME[:VERSION]')
      .option('--cascade', 'also delete the services that use it')
      .option('--dry-run', 'print what would be deleted')
      .action(async (ref: string, flags: CommonFlags & { cascade?: boolean; dryRun?: boolean }) => {
        await withWorkspace(flags, async (ws, format) => {
          const { name, version } = parseModelRef(ref);
          const i = await ws.getImage(name, version);
          const plan = await ws.delete([{ kind: 'image', id: i.id }], { cascade: flags.cascade, dryRun: flags.dryRun });
          emit(format, plan, () => plan.map((r) => `${flags.dryRun ? 'would delete' : 'deleted'} ${r.kind} ${r.id}`).join('\n'));
        });
      }),
  );
  return image;
}
