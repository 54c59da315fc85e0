import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { TestUi } from '../ui/test-server';
import type { JobRecord } from '../workspace/types';
import { waitFor } from './processes';

/** A model upload as the dashboard sends it: form fields, then one `file` part per file named by its relative path. */
export function uploadForm(fields: Record<string, string>, files: Record<string, Uint8Array | string>): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  // A copy: Blob's type takes only bytes over a plain ArrayBuffer.
  for (const [path, bytes] of Object.entries(files)) form.append('file', new Blob([typeof bytes === 'string' ? bytes : new Uint8Array(bytes)]), path);
  return form;
}

/** Every file under `dir` keyed `prefix/relative/path` (the shape of a browser folder pick). */
export function folderFiles(dir: string, prefix: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[`${prefix}/${join(e.parentPath, e.name).slice(dir.length + 1)}`] = readFileSync(join(e.parentPath, e.name));
  }
  return out;
}

/** Polls `GET /api/jobs/:id` until the job is final; expects it to have succeeded (its log in the message otherwise). */
export async function jobSucceeds(ui: TestUi, id: string): Promise<JobRecord> {
  const poll = async () => {
    await new Promise((r) => setTimeout(r, 200));
    return (await ui.json<JobRecord>(`/api/jobs/${id}`)).body;
  };
  const job = await waitFor(poll, (j) => ['succeeded', 'failed', 'cancelled'].includes(j.state), `job ${id}`, 600_000);
  const log = (await ui.ws.store.jobLog(id)).map((c) => c.text).join('');
  expect(job.state, `${job.error}\n${log}`).toBe('succeeded');
  return job;
}
