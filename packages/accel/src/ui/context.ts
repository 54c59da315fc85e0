import type { FastifyInstance } from 'fastify';
import type { Workspace } from '../workspace/workspace';

/** What every control-plane route module gets: the open workspace of this `accel ui` process. */
export interface UiContext {
  ws: Workspace;
  /** Largest model upload in bytes (all files of one register call). */
  maxUploadBytes: number;
}

/** A group of control-plane routes (models, jobs, services...), registered under /api by server.ts. */
export type RouteModule = (app: FastifyInstance, ctx: UiContext) => void | Promise<void>;
