import { Command } from 'commander';
import type { JobRecord, JobState } from '../workspace/types';
import { withWorkspace, workspaceCommand, type CommonFlags } from './common';
import type { Workspace } from '../workspace/workspace';
import { EXIT, emit, renderTable, type OutputFormat } from './output';

const STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

function duration(j: JobRecord): string {
  if (!j.startedAt) return '-';
  const end = j.endedAt ? Date.parse(j.endedAt) : Date.now();
  return `${((end - Date.parse(j.startedAt)) / 1000).toFixed(1)} s`;
}

/** Exit code for a finished job: 0 when it succeeded. */
export function jobExitCode(j: JobRecord): number {
  return j.state === 'succeeded' ? EXIT.OK : EXIT.ERROR;
}

/**
 * Starts a workspace job for a command: with `--no-wait` prints the job id; else follows its log
 * on stderr and prints its outputs (table rows from `rows`) or its error. Returns the exit code.
 */
export async function runJobCommand(
  ws: Workspace,
  format: OutputFormat,
  kind: string,
  inputs: Record<string, unknown>,
  wait: boolean,
  rows: (outputs: Record<string, unknown>) => string[][],
): Promise<number> {
  const handle = await ws.startJob(kind, inputs, { detached: !wait });
  if (!wait) {
    emit(format, { job: handle.id, state: 'queued' }, () => `${handle.id}\nfollow it with: accel job wait ${handle.id} --show-output`);
    return EXIT.OK;
  }
  const job = await handle.waitForCompletion({ showOutput: true });
  const out = job.outputs as Record<string, unknown>;
  emit(format, { job: job.id, state: job.state, error: job.error || undefined, ...out }, () =>
    job.state === 'succeeded' ? renderTable(['FIELD', 'VALUE'], [...rows(out), ['job', job.id]]) : `job ${job.id}: ${job.state}: ${job.error}`,
  );
  return jobExitCode(job);
}

export function jobCommand(): Command {
  const job = new Command('job').description('Follow asynchronous jobs (conversions, verification, builds): state, logs, cancel');

  job.addCommand(
    workspaceCommand('list', 'List jobs, newest first')
      .option('--kind <kind>', 'only this kind')
      .option('--state <state>', `only this state (${STATES.join(', ')})`)
      .action(async (flags: CommonFlags & { kind?: string; state?: JobState }) => {
        await withWorkspace(flags, async (ws, format) => {
          const jobs = await ws.store.listJobs({ kind: flags.kind, states: flags.state ? [flags.state] : undefined });
          emit(format, jobs, () => renderTable(['ID', 'KIND', 'STATE', 'CREATED', 'DURATION', 'ERROR'], jobs.map((j) => [j.id, j.kind, j.state, j.createdAt, duration(j), j.error || '-'])));
        });
      }),
  );

  job.addCommand(
    workspaceCommand('show', 'Show a job: state, times, inputs, outputs, error')
      .argument('<id>')
      .action(async (id: string, flags: CommonFlags) => {
        await withWorkspace(flags, async (ws, format) => {
          const j = await ws.getJob(id);
          emit(format, j, () =>
            renderTable(['FIELD', 'VALUE'], [
              ['id', j.id], ['kind', j.kind], ['state', j.state], ['created', j.createdAt], ['started', j.startedAt ?? '-'], ['ended', j.endedAt ?? '-'],
              ['duration', duration(j)], ['inputs', JSON.stringify(j.inputs)], ['outputs', JSON.stringify(j.outputs)], ['error', j.error || '-'],
              ['process', j.pid ? `${j.pid}@${j.host}` : '-'],
            ]),
          );
        });
      }),
  );

  job.addCommand(
    workspaceCommand('logs', "Print a job's log as stored so far")
      .argument('<id>')
      .action(async (id: string, flags: CommonFlags) => {
        await withWorkspace(flags, async (ws, format) => {
          await ws.getJob(id);
          const chunks = await ws.store.jobLog(id);
          emit(format, chunks, () => chunks.map((c) => c.text).join('').trimEnd());
        });
      }),
  );

  job.addCommand(
    workspaceCommand('wait', 'Wait for a job to end; exit code 0 only if it succeeded')
      .argument('<id>')
      .option('--show-output', 'stream the log while waiting')
      .action(async (id: string, flags: CommonFlags & { showOutput?: boolean }) => {
        const code = await withWorkspace(flags, async (ws, format) => {
          const j = await ws.jobHandle(id).waitForCompletion({ showOutput: flags.showOutput });
          emit(format, j, () => `job ${j.id}: ${j.state}${j.error ? ` (${j.error})` : ''}`);
          return jobExitCode(j);
        });
        process.exitCode = code;
      }),
  );

  job.addCommand(
    workspaceCommand('cancel', 'Cancel a queued or running job')
      .argument('<id>')
      .action(async (id: string, flags: CommonFlags) => {
        await withWorkspace(flags, async (ws, format) => {
          const j = await ws.cancelJob(id);
          emit(format, j, () => (j.state === 'running' ? `job ${j.id}: cancel requested` : `job ${j.id}: ${j.state}`));
        });
      }),
  );

  job.addCommand(
    workspaceCommand('run', 'Run a queued job in this process (used for detached jobs)')
      .argument('<id>')
      .action(async (id: string, flags: CommonFlags) => {
        const code = await withWorkspace(flags, async (ws, format) => {
          const j = await ws.runQueuedJob(id);
          emit(format, j, () => `job ${j.id}: ${j.state}`);
          return jobExitCode(j);
        });
        process.exitCode = code;
      }),
    { hidden: true },
  );
  return job;
}
