import { z } from 'zod';
import { checked } from '../../parse';
import { checkName, parsePairs } from '../../workspace/names';
import type { ArtifactRef, Edge } from '../../workspace/types';

export const artifactName = (what: string) => checked((v) => checkName(what, v));

/** `:version`: a whole number, or `latest` (undefined: the workspace picks the newest). */
export const version = z
  .string()
  .regex(/^(latest|[1-9][0-9]{0,14})$/, 'a version is a whole number from 1, or "latest"')
  .transform((v) => (v === 'latest' ? undefined : Number(v)));

export const versionParams = (what: string) => z.strictObject({ name: artifactName(what), version });

/** Tags as a JSON object of string values, with keys the CLI's `--tag KEY=VALUE` would take. */
export const tags = z.record(z.string(), z.string()).superRefine((value, ctx) => {
  for (const [k, v] of Object.entries(value)) {
    try {
      parsePairs('tag', [`${k}=${v}`]);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, path: [k] });
    }
  }
});

const flag = z.enum(['true', 'false']).optional().transform((v) => v === 'true');

/** `?cascade=&dryRun=`. Strict: a misspelt `dryrun=true` must not turn into a real delete. */
export const deleteQuery = z.strictObject({ cascade: flag, dryRun: flag });

/** The answer of every DELETE: what went (or would go), users first. */
export function deleteAnswer(refs: readonly ArtifactRef[], dryRun: boolean) {
  const list = refs.map(({ kind, id }) => ({ kind, id }));
  return dryRun ? { wouldDelete: list } : { deleted: list };
}

/** The other ends of edges, as refs: `to` of edges leaving an artifact, `from` of edges reaching it. */
export const edgeEnds = (edges: readonly Edge[], end: 'from' | 'to'): ArtifactRef[] => edges.map((e) => ({ kind: e[end].kind, id: e[end].id }));
