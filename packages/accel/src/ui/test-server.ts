import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Workspace } from '../workspace/workspace';
import { buildUiServer, type UiServerOptions } from './server';

export interface TestUi {
  /** `http://127.0.0.1:PORT` */
  url: string;
  ws: Workspace;
  dir: string;
  /** fetch() on the server: `call('/api/models')`, with the key when one is set. */
  call(path: string, init?: RequestInit): Promise<Response>;
  /** call() and parse the JSON answer; `status` is the HTTP status. */
  json<T = any>(path: string, init?: Omit<RequestInit, 'body'> & { body?: unknown }): Promise<{ status: number; body: T }>;
  /** Sends this key from now on (undefined: none). */
  useKey(key: string | undefined): void;
  close(): Promise<void>;
}

/** An `accel ui` server in this process on a free loopback port, over a fresh workspace (or `dir`). */
export async function startTestUi(opts: { dir?: string } & Omit<UiServerOptions, 'ws'> = {}): Promise<TestUi> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'accel-ui-'));
  const ws = await Workspace.open(dir, { create: true });
  const { app } = await buildUiServer({ ...opts, ws });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  let key: string | undefined;
  const call = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (key !== undefined && !headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
    return fetch(url + path, { ...init, headers });
  };
  return {
    url,
    ws,
    dir,
    call,
    async json(path, init = {}) {
      const plain = init.body !== undefined && typeof init.body === 'object' && !(init.body instanceof FormData) && !(init.body instanceof Uint8Array);
      const res = await call(path, plain ? { ...init, body: JSON.stringify(init.body), headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) } } : (init as RequestInit));
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    useKey(k) {
      key = k;
    },
    async close() {
      await app.close();
      await ws.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
