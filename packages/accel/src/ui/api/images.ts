import { z } from 'zod';
import { AccelError } from '../../errors';
import { checkImageName } from '../../workspace/images';
import { parseModelRef } from '../../workspace/names';
import type { RouteModule } from '../context';
import { streamJobLog } from '../sse';
import { checked, parse } from '../../parse';
import { artifactName, deleteAnswer, deleteQuery, tags, versionParams } from './params';

const listQuery = z.strictObject({ name: artifactName('Image').optional() });
const createBody = z.strictObject({
  name: checked(checkImageName),
  models: z.array(checked(parseModelRef)).min(1, 'an image serves at least one model'),
  tags: tags.optional(),
});

/** Container images: list, show, build (a job), follow the build log, delete. */
export const imageRoutes: RouteModule = (app, { ws }) => {
  const params = versionParams('Image');

  app.get('/api/images', async (req) => ws.listImages({ name: parse(listQuery, req.query, 'query').name }));

  app.get('/api/images/:name/versions/:version', async (req) => {
    const { name, version } = parse(params, req.params, 'params');
    return ws.getImage(name, version);
  });

  // What `accel image create --no-wait` does: record the image as Building, then build it in a detached job.
  app.post('/api/images', async (req, reply) => {
    const body = parse(createBody, req.body, 'body');
    const models: string[] = [];
    for (const ref of body.models) models.push((await ws.getModel(ref.name, ref.version)).id);
    const record = await ws.createImageRecord({ name: body.name, models, tags: body.tags });
    const job = await ws.startJob('image-build', { name: body.name, version: record.version }, { detached: true });
    await ws.updateImage(body.name, record.version, { jobId: job.id });
    return reply.code(202).send({ image: record.id, job: job.id });
  });

  app.get('/api/images/:name/versions/:version/log', async (req, reply) => {
    const { name, version } = parse(params, req.params, 'params');
    const image = await ws.getImage(name, version);
    // Only between recording the image and starting its job, or if that start failed.
    if (!image.jobId) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Build job of image', name: image.id, hint: ' The build never started.' });
    await streamJobLog(req, reply, ws, image.jobId);
    return reply;
  });

  app.delete('/api/images/:name/versions/:version', async (req) => {
    const { name, version } = parse(params, req.params, 'params');
    const { cascade, dryRun } = parse(deleteQuery, req.query, 'query');
    const image = await ws.getImage(name, version);
    return deleteAnswer(await ws.delete([{ kind: 'image', id: image.id }], { cascade, dryRun }), dryRun);
  });
};
