import { Command, Option } from 'commander';
import { AccelError } from '../errors';
import type { ComputeRecord, ComputeType } from '../workspace/types';
import { collect, withWorkspace, workspaceCommand, type CommonFlags } from './common';
import { emit, renderTable } from './output';
import { parsePairs } from '../workspace/names';
import { ACCELERATOR_TYPES } from '../workspace/compute';

function computeRow(c: ComputeRecord) {
  return [c.name, c.type, `${c.accelerators} x ${c.acceleratorType}`, c.state, c.errors.join('; ') || '-'];
}

export function computeCommand(): Command {
  const compute = new Command('compute').description('Compute targets: where services run, with how many accelerators');

  compute.addCommand(
    workspaceCommand('create', 'Create (provision) a compute target')
      .argument('<name>')
      .addOption(new Option('--type <type>', 'target type').choices(['local', 'container', 'kubernetes']).default('local'))
      .requiredOption('--accelerators <n>', 'accelerators on the target (one model per accelerator)')
      .addOption(new Option('--accelerator-type <type>', 'accelerator type').choices([...ACCELERATOR_TYPES]).default('cpu'))
      .option('--property <key=value>', 'property, e.g. kubeconfig=FILE (repeatable)', collect, [])
      .action(async (name: string, flags: CommonFlags & { type: ComputeType; accelerators: string; acceleratorType: string; property: string[] }) => {
        const accelerators = Number(flags.accelerators);
        const properties = parsePairs('--property', flags.property);
        await withWorkspace(flags, async (ws, format) => {
          const c = await ws.createCompute({ name, type: flags.type, accelerators, acceleratorType: flags.acceleratorType, properties });
          emit(format, c, () => renderTable(['NAME', 'TYPE', 'ACCELERATORS', 'STATE', 'ERRORS'], [computeRow(c)]));
          if (c.state === 'Failed') {
            throw new AccelError('ACCEL_ERR_COMPUTE_UNAVAILABLE', { compute: name, state: c.state, reason: c.errors.join('; ') });
          }
        });
      }),
  );

  compute.addCommand(
    workspaceCommand('list', 'List compute targets').action(async (flags: CommonFlags) => {
      await withWorkspace(flags, async (ws, format) => {
        const all = await ws.listComputes();
        emit(format, all, () => renderTable(['NAME', 'TYPE', 'ACCELERATORS', 'STATE', 'ERRORS'], all.map(computeRow)));
      });
    }),
  );

  compute.addCommand(
    workspaceCommand('show', 'Show a compute target, its provisioning state and errors')
      .argument('<name>')
      .action(async (name: string, flags: CommonFlags) => {
        await withWorkspace(flags, async (ws, format) => {
          const c = await ws.getCompute(name);
          const usage = (await ws.usage()).find((u) => u.compute === name)!;
          emit(format, { ...c, usage }, () =>
            renderTable(['FIELD', 'VALUE'], [
              ['name', c.name], ['type', c.type], ['accelerators', `${c.accelerators} x ${c.acceleratorType}`], ['state', c.state],
              ['errors', c.errors.join('; ') || '-'], ['in use', `${usage.inUse} (${usage.users.join(', ') || 'none'})`], ['free', usage.free],
              ['properties', Object.entries(c.properties).map(([k, v]) => `${k}=${v}`).join(', ') || '-'], ['created', c.createdAt],
            ]),
          );
        });
      }),
  );

  compute.addCommand(
    workspaceCommand('delete', 'Delete a compute target; refused while services run on it unless --cascade')
      .argument('<name>')
      .option('--cascade', 'delete the services on it first')
      .option('--dry-run', 'show what would be deleted, in order')
      .action(async (name: string, flags: CommonFlags & { cascade?: boolean; dryRun?: boolean }) => {
        await withWorkspace(flags, async (ws, format) => {
          const deleted = (await ws.delete([{ kind: 'compute', id: name }], { cascade: flags.cascade, dryRun: flags.dryRun })).map((r) => `${r.kind} ${r.id}`);
          emit(format, { [flags.dryRun ? 'wouldDelete' : 'deleted']: deleted }, () => `${flags.dryRun ? 'would delete' : 'deleted'}: ${deleted.join(', then ')}`);
        });
      }),
  );
  return compute;
}

export function usageCommand(): Command {
  return workspaceCommand('usage', 'Accelerators per compute target: total, in use, free').action(async (flags: CommonFlags) => {
    await withWorkspace(flags, async (ws, format) => {
      const rows = await ws.usage();
      emit(format, rows, () =>
        rows.length
          ? renderTable(['COMPUTE', 'TYPE', 'ACCELERATOR', 'STATE', 'TOTAL', 'IN USE', 'FREE'], rows.map((r) => [r.compute, r.type, r.acceleratorType, r.state, r.total, r.inUse, r.free]))
          : 'no compute targets: create one with `accel compute create NAME --accelerators N`',
      );
    });
  });
}
