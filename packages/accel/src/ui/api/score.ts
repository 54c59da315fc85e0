import { PredictionError, StatusCode, toFloat32, topK, type Tensor, type TopKEntry } from '@accel/client';
import sharp from 'sharp';
import { z } from 'zod';
import { AccelError } from '../../errors';
import { CLASSIFIER_OUTPUT_ALIAS } from '../../runtime/signature';
import { DETECTION_OUTPUTS } from '../../runtime/postprocess';
import { parseModelRef } from '../../workspace/names';
import type { ServiceRecord } from '../../workspace/types';
import type { Workspace } from '../../workspace/workspace';
import type { RouteModule } from '../context';
import { SidecarCache, classLabels } from '../labels';
import { ServiceClients } from '../service-clients';
import { checked, parse } from '../../parse';
import { artifactName } from './params';

/** Largest image the dashboard sends on to a service. */
export const SCORE_BODY_LIMIT = 16 * 1024 * 1024;

const params = z.strictObject({ name: artifactName('Service') });
const query = z.strictObject({
  k: z.coerce.number().int().min(1).max(100).default(5),
  model: checked(parseModelRef).optional(),
});

export interface Detection {
  box: [number, number, number, number];
  index: number;
  label: string;
  score: number;
}

/**
 * `POST /api/services/:name/score`: scores the uploaded image on a Healthy service over gRPC with
 * its primary key, as a client of the service would, and answers a ScoreView.
 */
export const scoreRoutes: RouteModule = async (app, { ws }) => {
  const clients = new ServiceClients();
  const sidecars = new SidecarCache(ws);
  app.addHook('onClose', async () => clients.close());

  // Scoped, so that only this route takes raw image bytes and nothing else (no JSON, no multipart).
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(['image/jpeg', 'image/png'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    scope.post('/api/services/:name/score', { bodyLimit: SCORE_BODY_LIMIT, config: { limit: SCORE_BODY_LIMIT } }, async (req) => {
      const { name } = parse(params, req.params, 'params');
      const { k, model: wanted } = parse(query, req.query, 'query');
      if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
        throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: 'send the image as the body, with content-type image/jpeg or image/png' });
      }
      const image: Buffer = req.body;
      const service = await ws.getService(name);
      if (service.state !== 'Healthy') {
        throw new AccelError('ACCEL_ERR_SERVICE_UNAVAILABLE', { service: name, state: service.state, reason: `only a Healthy service is scored${service.errors ? ` (${service.errors})` : ''}` });
      }
      const model = await servedModel(ws, service, wanted);
      const sidecar = await sidecars.get(model);
      const outputs = outputsToAsk(model.id, await atTheEdge(service, () => clients.outputs(service, model.name, model.version)));
      const started = performance.now();
      const result = await atTheEdge(service, () => clients.client(service).scoreImageTensors(image, { model: model.name, version: model.version, outputs }));
      const latencyMs = performance.now() - started;
      const { width, height } = await sharp(image).metadata().catch((err: Error) => {
        throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `the body is not a JPEG or PNG image (${err.message})` });
      });
      const top = result[CLASSIFIER_OUTPUT_ALIAS] ? topClasses(result[CLASSIFIER_OUTPUT_ALIAS], k, sidecar) : [];
      return {
        service: name,
        model: model.name,
        version: model.version,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        top,
        ...(result.detection_boxes ? { detections: detections(result, sidecar.labels) } : {}),
        width,
        height,
      };
    });
  });
};

/** The model of the service's image to score: `?model=` (one the image holds), else the image's first. */
async function servedModel(ws: Workspace, service: ServiceRecord, wanted: { name: string; version?: number } | undefined) {
  const ref = parseModelRef(service.image);
  const image = await ws.getImage(ref.name, ref.version);
  const served = image.models.map(parseModelRef);
  const pick = wanted ? served.find((m) => m.name === wanted.name && (wanted.version === undefined || m.version === wanted.version)) : served[0];
  if (!pick) {
    throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `query.model: service "${service.name}" serves ${image.models.join(', ')}, not ${wanted!.name}${wanted!.version ? `:${wanted!.version}` : ''}` });
  }
  return ws.getModel(pick.name, pick.version);
}

/** The class probabilities and/or the detections a model serves; nothing else (an SSD's raw outputs are large). */
function outputsToAsk(modelId: string, served: readonly string[]): string[] {
  const wanted = [...(served.includes(CLASSIFIER_OUTPUT_ALIAS) ? [CLASSIFIER_OUTPUT_ALIAS] : []), ...(DETECTION_OUTPUTS.every((o) => served.includes(o)) ? DETECTION_OUTPUTS : [])];
  if (wanted.length === 0) {
    throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `model ${modelId} neither classifies ("${CLASSIFIER_OUTPUT_ALIAS}") nor detects (${DETECTION_OUTPUTS.join(', ')}); its outputs: ${served.join(', ')}` });
  }
  return wanted;
}

function topClasses(output: Tensor, k: number, sidecar: { labels?: string[] }): TopKEntry[] {
  const probabilities = toFloat32(output, CLASSIFIER_OUTPUT_ALIAS);
  return topK(probabilities, k, classLabels(sidecar, probabilities.length));
}

/** The image's detections (TF object detection API outputs of batch 1), best first. */
function detections(result: Record<string, Tensor>, labels: readonly string[] | undefined): Detection[] {
  const [boxes, classes, scores, count] = DETECTION_OUTPUTS.map((o) => toFloat32(result[o], o));
  return Array.from({ length: count[0] }, (_, i) => {
    const index = classes[i];
    return { box: [boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]], index, label: labels?.[index] ?? String(index), score: scores[i] };
  });
}

/**
 * A failed call to the service as a catalogue error: what the service refused as invalid is the
 * caller's bad request (its message kept); anything else means the service cannot answer now.
 */
async function atTheEdge<T>(service: ServiceRecord, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof PredictionError)) throw err;
    if (err.code === StatusCode.INVALID_ARGUMENT || err.code === StatusCode.OUT_OF_RANGE) {
      throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `service "${service.name}" refused it: ${err.details}` }, { cause: err });
    }
    throw new AccelError('ACCEL_ERR_SERVICE_UNAVAILABLE', { service: service.name, state: service.state, reason: `${err.codeName}: ${err.details}` }, { cause: err });
  }
}
