import { Command, Option } from 'commander';
import { Workspace, defaultWorkspaceDir } from '../workspace/workspace';
import { parseOutputFormat, type OutputFormat } from './output';

export interface CommonFlags {
  workspace?: string;
  output: string;
}

/** Adds `--workspace` and `-o` to a command that works on a workspace. */
export function workspaceCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .addOption(new Option('--workspace <dir>', 'workspace folder').default(undefined, 'ACCEL_HOME or ~/.accel'))
    .option('-o, --output <format>', 'output format: table, json, yaml', 'table');
}

/** Opens the workspace named by the flags, runs `fn`, closes it. */
export async function withWorkspace<T>(flags: CommonFlags, fn: (ws: Workspace, format: OutputFormat) => Promise<T>): Promise<T> {
  const format = parseOutputFormat(flags.output);
  const ws = await Workspace.open(flags.workspace ?? defaultWorkspaceDir());
  try {
    return await fn(ws, format);
  } finally {
    await ws.close();
  }
}

/** Progress on stderr: a rewritten line on a terminal, a line per 10% otherwise. */
export function progressPrinter(label: string): (done: number, total: number) => void {
  let lastTenth = -1;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return (done, total) => {
    const fraction = total > 0 ? done / total : 0;
    const text = total > 0 ? `${label}: ${Math.floor(fraction * 100)}% (${mb(done)}/${mb(total)} MB)` : `${label}: ${mb(done)} MB`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${text}`);
      if (total > 0 && done >= total) process.stderr.write('\n');
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      process.stderr.write(`${text}\n`);
    }
  };
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}
