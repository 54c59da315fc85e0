/**
 * `@accel/client`: score images on an Accel service (or any TensorFlow Serving
 * server) over gRPC or REST, then map the probabilities to ImageNet labels.
 * Pure JavaScript: @grpc/grpc-js, protobufjs and Node built-ins only.
 *
 * @packageDocumentation
 */

/**
 * A TensorFlow Serving Predict client: the successor of the original
 * `PredictionClient(address, port, use_ssl, service_name)`.
 *
 * - `scoreFile` / `scoreImage` send encoded images as a DT_STRING tensor of
 *   shape [N] under `images` and return the `output_alias` output as a
 *   Float32Array (several `outputs` give a map by name).
 * - `scoreTensor` sends a DT_FLOAT tensor; `predict` takes a raw PredictRequest.
 * - `getModelMetadata` / `getModelStatus` read signatures and version states.
 * - A call has one overall deadline (`deadlineMs`, default 10 s); only
 *   UNAVAILABLE failures are retried (`retries`, default 3) with capped,
 *   jittered exponential backoff inside that deadline.
 * - Failed calls reject with a {@link PredictionError}; bad arguments throw
 *   TypeError/RangeError before anything is sent.
 *
 * @example
 * ```ts
 * import { PredictionClient, imagenetLabels, shortLabel, topK } from '@accel/client';
 *
 * const client = new PredictionClient({ address: 'localhost:8500', apiKey: process.env.ACCEL_KEY });
 * try {
 *   const probabilities = await client.scoreFile('snow-leopard.jpg'); // Float32Array(1000)
 *   for (const { label, probability } of topK(probabilities, 5, imagenetLabels())) {
 *     console.log(`${shortLabel(label)}: ${(probability * 100).toFixed(1)}%`);
 *   }
 * } finally {
 *   client.close();
 * }
 * ```
 */
export { PredictionClient } from './client';
export type { CallOptions, PredictionClientOptions, ScoreOptions, ScoreResult } from './client';

/** The error every failed call rejects with, its status-code table and the REST -> gRPC status mapping. */
export { PredictionError, StatusCode, httpStatusToCode, statusCodeName } from './errors';
export type { StatusCodeName } from './errors';

/** ImageNet class names (index order) and their short form. */
export { IMAGENET_LABELS_PATH, imagenetLabels, shortLabel } from './labels';

/** The k most probable classes, with labels. */
export { topK } from './topk';
export type { TopKEntry } from './topk';

/** Decoded tensors and TensorProto helpers for raw `predict` calls. */
export { decodeTensor, encodeTensor, floatTensorProto, stringTensorProto, toFloat32 } from './tensor';
export type { DType, Tensor, TensorData, TensorProtoObject } from './tensor';

/** TF Serving JSON <-> tensors, as the REST transport uses them. */
export { jsonToTensor, tensorToJson } from './rest';

/** TF Serving message shapes (proto-loader form). */
export type { ModelMetadata, ModelSpec, ModelStatus, PredictRequest, PredictResponse, SignatureDef, TensorInfo } from './wire';
