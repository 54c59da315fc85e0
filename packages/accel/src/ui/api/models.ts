import { resolve } from 'node:path';
import { z } from 'zod';
import { listImageFiles } from '../../quantize/images';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../../quantize/types';
import { parsePairs } from '../../workspace/names';
import type { Edge, ModelRecord } from '../../workspace/types';
import type { Workspace } from '../../workspace/workspace';
import type { RouteModule } from '../context';
import { groupBy, modelStage } from '../stage';
import { checked, parse } from '../../parse';
import { artifactName, deleteAnswer, deleteQuery, edgeEnds, tags, versionParams } from './params';
import { receiveUpload } from './upload';

/** docs/ui-api.md `ModelView`: what `accel model show -o json` gives, plus the stage. */
export function modelView(m: ModelRecord, edgesFrom: readonly Edge[]) {
  const { name, version, id, digest, size, format, fileName, description, tags, properties, createdAt } = m;
  return { name, version, id, digest, size, format, fileName, description, tags, properties, createdAt, stage: modelStage(m, edgesFrom) };
}

const viewOf = async (ws: Workspace, m: ModelRecord) => modelView(m, await ws.store.edgesFrom({ kind: 'model', id: m.id }));

const oneOrMany = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));
const listQuery = z.strictObject({
  name: artifactName('Model').optional(),
  tag: oneOrMany.pipe(z.array(checked((pair) => parsePairs('tag', [pair])))).optional(),
});

const jsonText = z.string().transform((text, ctx) => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
    return z.NEVER;
  }
});
const uploadFields = z.strictObject({ name: artifactName('Model'), description: z.string().optional(), tags: jsonText.pipe(tags).optional() });

const tagPatch = z.strictObject({ set: tags.default({}), remove: z.array(z.string().min(1)).default([]) });

/** Keys whose value is undefined are left out, as the CLI leaves out flags not given. */
const given = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const names = z.array(z.string().min(1)).min(1);
const convertBody = z.strictObject({
  inputTensors: names.optional(),
  outputTensors: names.optional(),
  name: artifactName('Model').optional(),
  tolerance: z.number().positive().optional(),
  verify: z.boolean().default(true),
  preprocess: z.record(z.string(), z.unknown()).optional(),
  labels: z.array(z.string()).optional(),
});

const method = z.custom<CalibrationMethod>((v) => CALIBRATION_METHODS.includes(v as CalibrationMethod), `method must be one of ${CALIBRATION_METHODS.join(', ')}`);
const quantizeBody = z.strictObject({
  calibration: z.string().min(1),
  evaluation: z.string().min(1).optional(),
  method: method.default('percentile'),
  perChannel: z.boolean().default(true),
  exclude: z.array(z.string().min(1)).optional(),
  name: artifactName('Model').optional(),
  limit: z.number().int().positive().optional(),
});

/**
 * Whether a folder upload has an ONNX model at its top (a conversion made elsewhere, or a zoo
 * build with its sidecar): it is then ready to build into an image, not a TensorFlow source,
 * and is tagged `format=onnx` as convert tags its outputs, unless the user gave a format.
 */
function holdsOnnx(files: readonly string[][]): boolean {
  if (files.length < 2) return false;
  const first = files[0]![0];
  const depth = files.every((f) => f.length > 1 && f[0] === first) ? 2 : 1;
  return files.some((f) => f.length === depth && f[depth - 1]!.toLowerCase().endsWith('.onnx'));
}

/** Models: list, show with lineage, upload (register), tag, delete, and convert and quantize jobs. */
export const modelRoutes: RouteModule = (app, { ws, maxUploadBytes }) => {
  const params = versionParams('Model');

  app.get('/api/models', async (req) => {
    const q = parse(listQuery, req.query, 'query');
    const [models, edges] = await Promise.all([ws.listModels({ name: q.name, tags: Object.assign({}, ...(q.tag ?? [])) }), ws.store.listEdges({ fromKind: 'model' })]);
    // One query for every model's edges, not one per model: the list stays fast at thousands of versions.
    const from = groupBy(edges, (e) => e.from.id);
    return models.map((m) => modelView(m, from.get(m.id) ?? []));
  });

  app.get('/api/models/:name/versions/:version', async (req) => {
    const { name, version } = parse(params, req.params, 'params');
    const { model, from, to } = await ws.lineage(name, version);
    return { ...modelView(model, from), derivedFrom: edgeEnds(from, 'to'), usedBy: edgeEnds(to, 'from') };
  });

  app.post('/api/models', { config: { limit: maxUploadBytes } }, async (req, reply) => {
    const upload = await receiveUpload(req, maxUploadBytes);
    let m: ModelRecord;
    try {
      const fields = parse(uploadFields, upload.fields, 'fields');
      const tags = fields.tags?.format === undefined && holdsOnnx(upload.files) ? { ...fields.tags, format: 'onnx' } : fields.tags;
      m = await ws.registerModel(await upload.path(fields.name), { name: fields.name, description: fields.description, tags });
    } finally {
      // Before answering: the blob store holds its own copy now.
      await upload.remove();
    }
    return reply.code(201).send(await viewOf(ws, m));
  });

  app.patch('/api/models/:name/versions/:version/tags', async (req) => {
    const { name, version } = parse(params, req.params, 'params');
    const { set, remove } = parse(tagPatch, req.body ?? {}, 'body');
    return viewOf(ws, await ws.tagModel(name, version, set, remove));
  });

  app.delete('/api/models/:name/versions/:version', async (req) => {
    const { name, version } = parse(params, req.params, 'params');
    const { cascade, dryRun } = parse(deleteQuery, req.query, 'query');
    // `latest` is resolved here: what the caller saw is what goes.
    const refs = await ws.modelRefs(name, (await ws.getModel(name, version)).version);
    return deleteAnswer(await ws.delete(refs, { cascade, dryRun }), dryRun);
  });

  // Jobs start like `accel convert --no-wait` / `accel quantize --no-wait`: the same inputs, run by a detached `accel job run`.
  app.post('/api/models/:name/versions/:version/convert', async (req, reply) => {
    const { name, version } = parse(params, req.params, 'params');
    const body = parse(convertBody, req.body ?? {}, 'body');
    await ws.getModel(name, version);
    const inputs = given({ model: name, version, ...body, preprocess: body.preprocess && Object.keys(body.preprocess).length ? body.preprocess : undefined, labels: body.labels?.length ? body.labels : undefined });
    const job = await ws.startJob('convert', inputs, { detached: true });
    return reply.code(202).send({ job: job.id });
  });

  app.post('/api/models/:name/versions/:version/quantize', async (req, reply) => {
    const { name, version } = parse(params, req.params, 'params');
    const body = parse(quantizeBody, req.body, 'body');
    await ws.getModel(name, version);
    // Folders on this machine, as `accel quantize` resolves them; an empty or missing one fails now, not in the job.
    const calibration = resolve(body.calibration);
    const evaluation = body.evaluation === undefined ? undefined : resolve(body.evaluation);
    await listImageFiles(calibration);
    if (evaluation) await listImageFiles(evaluation);
    const inputs = given({ model: name, version, ...body, calibration, evaluation, exclude: body.exclude?.length ? body.exclude : undefined });
    const job = await ws.startJob('quantize', inputs, { detached: true });
    return reply.code(202).send({ job: job.id });
  });
};
