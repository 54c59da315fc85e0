import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { AccelError } from '../../errors';

/** Uploads are capped by `accel ui --max-upload-mb` (all files of one register call together). */
const UPLOAD_HINT = ' (raise it with accel ui --max-upload-mb)';

/** A model upload received into a temporary folder: its form fields and its files' relative paths. */
export interface Upload {
  fields: Record<string, string>;
  files: string[][];
  /** The file, or the folder, to register; `folderName` names the folder when the paths share no first folder. */
  path(folderName: string): Promise<string>;
  /** Removes the temporary folder. */
  remove(): Promise<void>;
}

/** A part's filename as path segments, or why it is refused (it must stay inside the upload folder). */
export function relativePath(filename: string): string[] | string {
  if (filename === '') return 'a file part has no filename';
  if (/^([\\/]|[A-Za-z]:)/.test(filename)) return `"${filename}" is an absolute path; send paths relative to the model folder`;
  const segments = filename.split(/[\\/]/);
  if (segments.includes('..')) return `"${filename}" climbs out of the model folder with ".."`;
  if (segments.some((s) => s === '' || s === '.' || s.includes('\0'))) return `"${filename}" has an empty or "." name in it`;
  return segments;
}

/** Why `segments` cannot sit beside the paths already taken (the same path, or a file where a folder is), if so. */
function clash(segments: string[], files: Set<string>, folders: Set<string>): string | undefined {
  const path = segments.join('/');
  if (files.has(path) || folders.has(path)) return `"${path}" is sent twice, or as both a file and a folder`;
  for (let i = 1; i < segments.length; i++) {
    if (files.has(segments.slice(0, i).join('/'))) return `"${path}" puts a file under "${segments.slice(0, i).join('/')}", which is a file`;
  }
  return undefined;
}

/** Counts the bytes of every file of one upload and stops it once they pass `limit`. */
function byteCounter(state: { total: number }, limit: number, size: string): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      state.total += chunk.length;
      if (state.total > limit) done(new AccelError('ACCEL_ERR_TOO_LARGE', { size, limit, hint: UPLOAD_HINT }));
      else done(null, chunk);
    },
  });
}

/**
 * Streams a multipart model upload to a folder under the system temp folder: fields by name,
 * `file` parts at their relative paths. A bad part does not stop reading (the client is still
 * sending); the first problem is thrown once the body has been read. The caller removes the folder.
 */
export async function receiveUpload(req: FastifyRequest, maxBytes: number): Promise<Upload> {
  const root = await mkdtemp(join(tmpdir(), 'accel-upload-'));
  const partsDir = join(root, 'parts');
  const fields: Record<string, string> = {};
  const files: string[][] = [];
  const taken = { files: new Set<string>(), folders: new Set<string>() };
  const counted = { total: 0 };
  const size = req.headers['content-length'] ?? `more than ${maxBytes}`;
  let problem: string | undefined;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'field') {
        if (part.valueTruncated) problem ??= `field "${part.fieldname}" is too long`;
        else if (part.fieldname in fields) problem ??= `field "${part.fieldname}" is given twice`;
        else fields[part.fieldname] = String(part.value);
        continue;
      }
      const segments = part.fieldname === 'file' ? relativePath(part.filename) : `unexpected file part "${part.fieldname}"; send files as "file" parts`;
      const refusal = typeof segments === 'string' ? segments : clash(segments, taken.files, taken.folders);
      if (problem !== undefined || refusal !== undefined || typeof segments === 'string') {
        problem ??= refusal;
        part.file.resume();
        continue;
      }
      taken.files.add(segments.join('/'));
      for (let i = 1; i < segments.length; i++) taken.folders.add(segments.slice(0, i).join('/'));
      const target = join(partsDir, ...segments);
      await mkdir(dirname(target), { recursive: true });
      await pipeline(part.file, byteCounter(counted, maxBytes, size), createWriteStream(target));
      // The plugin's per-file limit cuts a file short; a short model must never be registered.
      if (part.file.truncated) throw new AccelError('ACCEL_ERR_TOO_LARGE', { size, limit: maxBytes, hint: UPLOAD_HINT });
      files.push(segments);
    }
    if (problem !== undefined) throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: problem });
    if (files.length === 0) throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: 'the upload holds no "file" part: send the model file, or the files of its folder' });
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return {
    fields,
    files,
    async path(folderName) {
      if (files.length === 1) return join(partsDir, ...files[0]!);
      const first = files[0]![0]!;
      if (files.every((f) => f.length > 1 && f[0] === first)) return join(partsDir, first);
      const named = join(root, 'named', folderName);
      await mkdir(dirname(named), { recursive: true });
      await rename(partsDir, named);
      return named;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
