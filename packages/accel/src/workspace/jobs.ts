import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AccelError } from '../errors';
import type { JobRecord, MetadataStore } from './types';
import { FINAL_JOB_STATES } from './types';

/** What a job's code gets: its inputs, a log, progress reporting, and a signal set on cancel. */
export interface JobContext {
  id: string;
  inputs: Record<string, unknown>;
  /** Appends text to the job's stored log (a newline is added when missing). */
  log(text: string): Promise<void>;
  /** Logs progress, at most every 10% or 2 s per label and 100% once: `label: 45% (450/1000 MB)`. */
  progress(label: string, done: number, total: number, unit?: string): Promise<void>;
  signal: AbortSignal;
}

export type JobRunner<W> = (ctx: JobContext, workspace: W) => Promise<Record<string, unknown> | void>;

/** Job kinds by name. Passed in explicitly so that tests and features add their own. */
export class JobKinds<W> {
  private readonly runners = new Map<string, JobRunner<W>>();

  register(kind: string, runner: JobRunner<W>): this {
    this.runners.set(kind, runner);
    return this;
  }

  get(kind: string): JobRunner<W> {
    const runner = this.runners.get(kind);
    if (!runner) throw new AccelError('ACCEL_ERR_USAGE', { reason: `unknown job kind "${kind}" (known: ${[...this.runners.keys()].join(', ') || 'none'})` });
    return runner;
  }

  get kinds(): string[] {
    return [...this.runners.keys()];
  }
}

export const HEARTBEAT_MS = 2000;
/** A job on another host whose heartbeat is older than this is taken as lost. */
export const LOST_AFTER_MS = 60_000;

export function newJobId(kind: string): string {
  return `${kind}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function isFinal(job: JobRecord): boolean {
  return FINAL_JOB_STATES.includes(job.state);
}

/** True if a process with this pid exists (on this host). */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Marks jobs whose process is gone as failed: a running job on this host with a dead pid, a
 * job elsewhere whose heartbeat stopped, a queued job nobody picked up. Called on every open.
 */
export async function failInterruptedJobs(store: MetadataStore): Promise<JobRecord[]> {
  const open = await store.listJobs({ states: ['queued', 'running'] });
  const failed: JobRecord[] = [];
  const now = Date.now();
  for (const job of open) {
    let reason: string | undefined;
    const beat = Date.parse(job.heartbeatAt ?? job.startedAt ?? job.createdAt);
    if (job.host === hostname() && job.pid !== null && !alive(job.pid)) {
      reason = `interrupted: process ${job.pid} ended without finishing the job`;
    } else if (job.host !== hostname() && now - beat > LOST_AFTER_MS) {
      reason = `lost: no heartbeat from ${job.host} since ${new Date(beat).toISOString()}`;
    } else if (job.state === 'queued' && job.pid === null && now - Date.parse(job.createdAt) > LOST_AFTER_MS) {
      reason = 'never started: no process picked the job up';
    }
    if (!reason) continue;
    await store.appendJobLog(job.id, `${reason}\n`);
    const done = await store.finishJob(job.id, { state: 'failed', error: reason, endedAt: new Date().toISOString() });
    if (done) failed.push(done);
  }
  return failed;
}

/**
 * Runs a queued job in this process: claims it, keeps a heartbeat, watches for a cancel
 * request, stores outputs or the error. Resolves with the final record; never throws for a
 * failing job (the failure is in the record and the log).
 */
export async function runJob<W>(store: MetadataStore, kinds: JobKinds<W>, workspace: W, id: string): Promise<JobRecord> {
  const job = await store.getJob(id);
  if (!job) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Job', name: id, hint: ' See `accel job list`.' });
  if (job.state !== 'queued') return job;
  const controller = new AbortController();
  await store.updateJob(id, { state: 'running', pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() });
  const beat = setInterval(() => {
    void store
      .updateJob(id, { heartbeatAt: new Date().toISOString() })
      .then((j) => {
        if (j?.cancelRequested && !controller.signal.aborted) controller.abort(new Error('cancelled by request'));
      })
      .catch(() => undefined);
  }, Math.min(HEARTBEAT_MS, 500));
  beat.unref();
  const log = async (text: string) => store.appendJobLog(id, text.endsWith('\n') ? text : `${text}\n`);
  const lastShown = new Map<string, { at: number; fraction: number }>();
  const ctx: JobContext = {
    id,
    inputs: job.inputs,
    log,
    signal: controller.signal,
    async progress(label, done, total, unit = '') {
      const fraction = total > 0 ? done / total : 1;
      const last = lastShown.get(label) ?? { at: 0, fraction: -1 };
      // Per label; 100% once (an image build reports each layer's end hundreds of times).
      const due = fraction >= 1 ? last.fraction < 1 : Date.now() - last.at > 2000 || fraction - last.fraction >= 0.1;
      if (!due) return;
      lastShown.set(label, { at: Date.now(), fraction });
      const u = unit ? ` ${unit}` : '';
      await log(`${label}: ${Math.round(fraction * 100)}% (${done}/${total}${u})`);
    },
  };
  try {
    const outputs = (await kinds.get(job.kind)(ctx, workspace)) ?? {};
    if (controller.signal.aborted) throw controller.signal.reason;
    await log('succeeded');
    return (await store.finishJob(id, { state: 'succeeded', outputs, endedAt: new Date().toISOString() }))!;
  } catch (err) {
    const cancelled = controller.signal.aborted;
    const message = err instanceof Error ? err.message : String(err);
    await log(cancelled ? 'cancelled' : `failed: ${message}`);
    return (await store.finishJob(id, { state: cancelled ? 'cancelled' : 'failed', error: cancelled ? 'cancelled by request' : message, endedAt: new Date().toISOString() }))!;
  } finally {
    clearInterval(beat);
  }
}
