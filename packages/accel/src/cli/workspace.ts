import { Command } from 'commander';
import { createWorkspaceKey, deleteWorkspaceKey, keysFile } from '../ui/keys';
import { Workspace, defaultWorkspaceDir } from '../workspace/workspace';
import { formatBytes, progressPrinter, withWorkspace, workspaceCommand, type CommonFlags } from './common';
import { EXIT, emit, parseOutputFormat, renderTable } from './output';

export function workspaceGroup(): Command {
  const group = new Command('workspace').description('Create, check and clean the workspace (metadata + content-addressed blobs)');

  group.addCommand(
    new Command('init')
      .description('Create a workspace (default: ACCEL_HOME or ~/.accel); nothing happens if one exists')
      .argument('[dir]', 'folder')
      .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
      .action(async (dir: string | undefined, flags: { output: string }) => {
        const format = parseOutputFormat(flags.output);
        const ws = await Workspace.open(dir ?? defaultWorkspaceDir(), { create: true });
        try {
          const info = { path: ws.dir, metadata: ws.store.backend, createdAt: ws.createdAt };
          emit(format, info, () => `workspace ${info.path} (${info.metadata} metadata, created ${info.createdAt})`);
        } finally {
          await ws.close();
        }
      }),
  );

  group.addCommand(
    workspaceCommand('verify', 'Rehash every blob; report records pointing at missing or corrupt blobs (exit 1 if any)').action(async (flags: CommonFlags) => {
      const ok = await withWorkspace(flags, async (ws, format) => {
        const report = await ws.verify(progressPrinter('verifying'));
        const mbps = report.seconds > 0 ? report.bytes / 1e6 / report.seconds : 0;
        emit(format, { ...report, mbPerSecond: Number(mbps.toFixed(1)) }, () =>
          [
            `${report.blobs} blobs, ${formatBytes(report.bytes)} verified in ${report.seconds.toFixed(2)} s (${mbps.toFixed(0)} MB/s); ${report.unreferenced} unreferenced`,
            ...report.missing.map((m) => `MISSING ${m.digest} (used by ${m.usedBy.join(', ')})`),
            ...report.corrupt.map((c) => `CORRUPT ${c.digest} (content hashes to ${c.actual})`),
            report.ok ? 'ok' : 'NOT OK',
          ].join('\n'),
        );
        return report.ok;
      });
      if (!ok) process.exitCode = EXIT.ERROR;
    }),
  );

  group.addCommand(
    workspaceCommand('gc', 'Delete blobs no record points at')
      .option('--grace <seconds>', 'keep blobs younger than this (a register may be in flight)', '600')
      .action(async (flags: CommonFlags & { grace: string }) => {
        await withWorkspace(flags, async (ws, format) => {
          const result = await ws.gc(Number(flags.grace) * 1000);
          emit(format, result, () => `removed ${result.removed.length} blobs (${formatBytes(result.bytes)})`);
        });
      }),
  );

  group.addCommand(
    workspaceCommand('show', 'Where the workspace is and what it holds').action(async (flags: CommonFlags) => {
      await withWorkspace(flags, async (ws, format) => {
        const models = await ws.listModels();
        const jobs = await ws.store.listJobs();
        const computes = await ws.listComputes();
        const info = { path: ws.dir, metadata: ws.store.backend, models: models.length, jobs: jobs.length, computeTargets: computes.length };
        emit(format, info, () => renderTable(['FIELD', 'VALUE'], Object.entries(info)));
      });
    }),
  );
  group.addCommand(keyGroup());
  return group;
}

/** `accel workspace key`: the key that guards the control plane (`accel ui`). */
function keyGroup(): Command {
  const key = new Command('key').description('The key of the workspace\'s control plane (accel ui): create or delete it');
  key.addCommand(
    workspaceCommand('create', 'Make a new key for accel ui and print it once (only its SHA-256 is stored)')
      .option('--force', 'replace the existing key (clients using it are refused from now on)')
      .action(async (flags: CommonFlags & { force?: boolean }) => {
        await withWorkspace(flags, async (ws, format) => {
          const value = createWorkspaceKey(ws.dir, { force: flags.force });
          const file = keysFile(ws.dir);
          emit(format, { key: value, file }, () =>
            [`workspace key: ${value}`, `Stored only as its SHA-256 in ${file}: it is not shown again, keep it now.`, 'Send it as "Authorization: Bearer KEY"; the dashboard asks for it.'].join('\n'),
          );
        });
      }),
  );
  key.addCommand(
    workspaceCommand('delete', 'Delete the key: accel ui is open again (to this machine only)').action(async (flags: CommonFlags) => {
      await withWorkspace(flags, async (ws, format) => {
        const file = keysFile(ws.dir);
        const deleted = deleteWorkspaceKey(ws.dir);
        emit(format, { deleted, file }, () => (deleted ? `deleted ${file}: accel ui needs no key now` : `no key to delete (${file} does not exist)`));
      });
    }),
  );
  return key;
}
