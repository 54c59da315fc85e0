import { Command } from 'commander';
import { parseModelRef, parsePairs } from '../workspace/names';
import type { ModelRecord } from '../workspace/types';
import { collect, formatBytes, progressPrinter, withWorkspace, workspaceCommand, type CommonFlags } from './common';
import { emit, renderTable } from './output';

function modelView(m: ModelRecord) {
  return { name: m.name, id: m.id, version: m.version, digest: m.digest, size: m.size, format: m.format, fileName: m.fileName, description: m.description, tags: m.tags, properties: m.properties, createdTime: m.createdAt };
}

const tagText = (tags: Record<string, string>) => Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(',') || '-';

function modelsTable(models: ModelRecord[]): string {
  return renderTable(
    ['NAME', 'VERSION', 'SIZE', 'DIGEST', 'TAGS', 'CREATED'],
    models.map((m) => [m.name, m.version, formatBytes(m.size), m.digest.slice(0, 19), tagText(m.tags), m.createdAt]),
  );
}

export function modelCommand(): Command {
  const model = new Command('model').description('Register, list, show, download, tag and delete model versions');

  model.addCommand(
    workspaceCommand('register', 'Register a model file or folder as the next version of NAME')
      .argument('<path>', 'model file, or a folder (stored as one tar)')
      .requiredOption('--name <name>', 'model name: lowercase [a-z0-9][a-z0-9._-]*, at most 63 characters')
      .option('--tag <key=value>', 'tag (repeatable)', collect, [])
      .option('--property <key=value>', 'property (repeatable)', collect, [])
      .option('--description <text>', 'description', '')
      .action(async (path: string, flags: CommonFlags & { name: string; tag: string[]; property: string[]; description: string }) => {
        const tags = parsePairs('--tag', flags.tag);
        const properties = parsePairs('--property', flags.property);
        await withWorkspace(flags, async (ws, format) => {
          const m = await ws.registerModel(path, { name: flags.name, tags, properties, description: flags.description, onProgress: progressPrinter(`registering ${path}`) });
          emit(format, modelView(m), () => `registered ${m.id} (${formatBytes(m.size)}, ${m.digest})`);
        });
      }),
  );

  model.addCommand(
    workspaceCommand('list', 'List model versions, newest first')
      .option('--name <name>', 'only this model')
      .option('--tag <key=value>', 'only versions with this tag (repeatable, all must match)', collect, [])
      .action(async (flags: CommonFlags & { name?: string; tag: string[] }) => {
        const tags = parsePairs('--tag', flags.tag);
        await withWorkspace(flags, async (ws, format) => {
          const models = await ws.listModels({ name: flags.name, tags });
          emit(format, models.map(modelView), () => modelsTable(models));
        });
      }),
  );

  model.addCommand(
    workspaceCommand('show', 'Show a model version (the latest when no version is given) with its lineage')
      .argument('<model>', 'NAME[:VERSION]')
      .action(async (ref: string, flags: CommonFlags) => {
        const { name, version } = parseModelRef(ref);
        await withWorkspace(flags, async (ws, format) => {
          const { model: m, from, to } = await ws.lineage(name, version);
          const view = { ...modelView(m), derivedFrom: from.map((e) => `${e.to.kind} ${e.to.id}`), usedBy: to.map((e) => `${e.from.kind} ${e.from.id} (${e.relation})`) };
          emit(format, view, () =>
            renderTable(['FIELD', 'VALUE'], [
              ['id', m.id], ['digest', m.digest], ['size', `${formatBytes(m.size)} (${m.size} bytes)`], ['format', `${m.format} (${m.fileName})`],
              ['description', m.description || '-'], ['tags', tagText(m.tags)], ['properties', tagText(m.properties)], ['created', m.createdAt],
              ['derived from', view.derivedFrom.join(', ') || '-'], ['used by', view.usedBy.join(', ') || '-'],
            ]),
          );
        });
      }),
  );

  model.addCommand(
    workspaceCommand('download', 'Write a model version into DIR')
      .argument('<model>', 'NAME[:VERSION]')
      .argument('<dir>', 'destination folder')
      .action(async (ref: string, dir: string, flags: CommonFlags) => {
        const { name, version } = parseModelRef(ref);
        await withWorkspace(flags, async (ws, format) => {
          const path = await ws.downloadModel(name, version, dir);
          emit(format, { path }, () => `wrote ${path}`);
        });
      }),
  );

  for (const [verb, help] of [['tag', 'Add or change tags of a model version'], ['untag', 'Remove tags from a model version']] as const) {
    model.addCommand(
      workspaceCommand(verb, help)
        .argument('<model>', 'NAME[:VERSION]')
        .argument('<tags...>', verb === 'tag' ? 'KEY=VALUE pairs' : 'KEYs')
        .action(async (ref: string, tags: string[], flags: CommonFlags) => {
          const { name, version } = parseModelRef(ref);
          const set = verb === 'tag' ? parsePairs('tag', tags) : {};
          const remove = verb === 'untag' ? tags : [];
          await withWorkspace(flags, async (ws, format) => {
            const m = await ws.tagModel(name, version, set, remove);
            emit(format, modelView(m), () => `${m.id}: ${tagText(m.tags)}`);
          });
        }),
    );
  }

  model.addCommand(
    workspaceCommand('delete', 'Delete a model version (or every version); refused while images use it unless --cascade')
      .argument('<model>', 'NAME[:VERSION]')
      .option('--cascade', 'delete what uses it first, in dependency order')
      .option('--dry-run', 'show what would be deleted, in order')
      .action(async (ref: string, flags: CommonFlags & { cascade?: boolean; dryRun?: boolean }) => {
        const { name, version } = parseModelRef(ref);
        await withWorkspace(flags, async (ws, format) => {
          const deleted = await ws.delete(await ws.modelRefs(name, version), { cascade: flags.cascade, dryRun: flags.dryRun });
          const list = deleted.map((r) => `${r.kind} ${r.id}`);
          emit(format, { [flags.dryRun ? 'wouldDelete' : 'deleted']: list }, () => `${flags.dryRun ? 'would delete' : 'deleted'}: ${list.join(', then ')}`);
        });
      }),
  );
  return model;
}

