/** Defaults shared by the server and the CLI, kept free of heavy imports so `accel --help` stays fast. */

/** Largest gRPC message or REST body, both directions (gRPC's own 4 MB is too small for image batches). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Largest decoded image, in pixels (refuses decompression bombs). */
export const DEFAULT_MAX_IMAGE_PIXELS = 50_000_000;

/** Most rows (images, or entries along the batch axis) one request may carry. */
export const DEFAULT_MAX_REQUEST_BATCH = 64;

/** Longest a request may take inside the server (decode, queue, run) before DEADLINE_EXCEEDED / 504. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Most gRPC calls in flight on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;
