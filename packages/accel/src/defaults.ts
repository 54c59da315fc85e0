/** Defaults shared by the server and the CLI, kept free of heavy imports so `accel --help` stays fast. */

/** Largest gRPC message or REST body, both directions (gRPC's own 4 MB is too small for image batches). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Largest decoded image, in pixels (refuses decompression bombs). */
export const DEFAULT_MAX_IMAGE_PIXELS = 50_000_000;
