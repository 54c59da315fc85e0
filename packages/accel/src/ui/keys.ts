import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiKeys } from '../protocols/auth';
import { hashedKeyFile } from '../protocols/key-hash';
import { newKey } from '../deploy/deploy';
import { AccelError } from '../errors';

/** The workspace's control-plane key, kept only as its SHA-256 (`{"primary": "sha256:<hex>"}`). */
export const keysFile = (workspaceDir: string): string => join(workspaceDir, 'api-keys.json');

/** Makes a new key for the workspace's control plane, stores its hash and returns the key (shown once). */
export function createWorkspaceKey(workspaceDir: string, opts: { force?: boolean } = {}): string {
  const file = keysFile(workspaceDir);
  if (existsSync(file) && !opts.force) {
    throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Workspace key file', name: file });
  }
  const key = newKey();
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, hashedKeyFile({ primary: key }), { mode: 0o600 });
  renameSync(tmp, file);
  return key;
}

/** Removes the workspace key: the control plane is open again (loopback only). Returns whether one existed. */
export function deleteWorkspaceKey(workspaceDir: string): boolean {
  const file = keysFile(workspaceDir);
  const had = existsSync(file);
  rmSync(file, { force: true });
  return had;
}

/**
 * The control plane's key check. The workspace has a key when its key file exists; the file is
 * looked at on every request, so `accel workspace key create` or `delete` take effect at once.
 */
export class WorkspaceKeys {
  readonly file: string;
  #keys?: ApiKeys;
  #opening?: Promise<ApiKeys>;

  constructor(workspaceDir: string) {
    this.file = keysFile(workspaceDir);
  }

  get enabled(): boolean {
    return existsSync(this.file);
  }

  /** Why a request with this `authorization` header is refused, or undefined when it may pass. */
  async refusal(header: string | undefined): Promise<string | undefined> {
    if (!this.enabled) {
      this.close();
      return undefined;
    }
    this.#opening ??= ApiKeys.open({ file: this.file, pollMs: 1000 }).then((k) => (this.#keys = k));
    const keys = await this.#opening.catch((err) => {
      this.#opening = undefined;
      throw err;
    });
    return keys.refusal(header);
  }

  close(): void {
    this.#keys?.close();
    this.#keys = undefined;
    this.#opening = undefined;
  }
}
