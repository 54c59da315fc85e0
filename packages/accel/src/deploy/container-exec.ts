import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** PATH for the system tools (runc, umoci, ip live in sbin folders, which a user's PATH may lack). */
function toolPath(): string {
  return [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean).join(':');
}

/** A system tool exited non-zero: the command line and what it printed on stderr. */
export class ToolError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(`\`${command}\` failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || '(no output)'}`);
    this.name = 'ToolError';
  }
}

/** Runs a system tool and returns its stdout; throws {@link ToolError} when it fails. */
export function runTool(cmd: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, PATH: toolPath() }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = typeof err.code === 'number' ? err.code : null;
      reject(new ToolError([cmd, ...args].join(' '), stderr || err.message, code));
    });
  });
}

/** The absolute path of a system tool, or undefined when it is not installed. */
export function findTool(tool: string): string | undefined {
  return toolPath()
    .split(':')
    .map((dir) => join(dir, tool))
    .find((p) => existsSync(p));
}

/** Why the container target cannot run here (not root, tools missing), or undefined when it can. */
export function containerPrerequisites(tools: readonly string[] = ['runc', 'umoci', 'ip']): string | undefined {
  if (process.getuid?.() !== 0) return 'the container target needs root (runc, network namespaces)';
  const missing = tools.filter((t) => !findTool(t));
  return missing.length ? `not installed: ${missing.join(', ')}` : undefined;
}
