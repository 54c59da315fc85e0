// Models: the table, register form, convert, quantize, build-image and tags dialogs.
import { api, ApiError, clearError } from './api.js';
import { loadLineage } from './lineage.js';
import { btn, bytes, delBtn, enc, field, formDialog, h, input, jobDialog, list, liveTable, notice, num, page, pageForm, pairs, select, tagList, val, when, words } from './ui.js';

const modelPath = (m) => `/models/${enc(m.name)}/versions/${m.version}`;
const SERVER_SIDE = 'on the machine running accel ui, not on this computer';

export function render(main) {
  const graph = h('div');
  const table = liveTable({
    ms: 5000,
    get: () => api('/models'),
    caption: 'Registered models, newest first',
    empty: 'No models yet: register one below.',
    // After a frame: the table shows first, the graph (slow with thousands of nodes) follows.
    changed: () => new Promise((r) => requestAnimationFrame(() => setTimeout(r))).then(() => loadLineage(graph)).catch(() => {}),
    columns: [
      ['Name', (m) => m.name],
      ['Version', (m) => m.version],
      ['Stage', (m) => m.stage],
      ['Size', (m) => bytes(m.size)],
      ['Tags', (m) => tagList(m.tags)],
      ['Created', (m) => when(m.createdAt)],
      ['Actions', (m) => h('div', { class: 'acts' },
        m.stage === 'source' ? btn('Convert', () => convert(m), `Convert ${m.id}`)
          : [m.stage !== 'quantized' ? btn('Quantize', () => quantize(m), `Quantize ${m.id}`) : null, btn('Build image', () => buildImage(m), `Build image from ${m.id}`)],
        btn('Tags', () => editTags(m, table.reload), `Edit tags of ${m.id}`),
        delBtn(`model ${m.id}`, modelPath(m), table.reload))],
    ],
  });
  page(main, 'Models', 'TensorFlow models and the ONNX models made from them: convert a source model, then build an image.',
    table.el, h('section', { 'aria-labelledby': 'lineage-h' }, h('h2', { id: 'lineage-h', text: 'Lineage' }), graph), registerForm(table.reload));
  return table.stop;
}

function registerForm(reload) {
  const name = input({ required: true, pattern: '[a-z0-9][a-z0-9._\\-]*' });
  const description = input();
  const tags = input({ placeholder: 'framework=tfjs, task=classify' });
  const files = h('input', { type: 'file', multiple: true });
  const folder = h('input', { type: 'file', webkitdirectory: true, multiple: true });
  const form = pageForm('Register a model', [
    h('div', { class: 'grid' },
      field('Name', name, 'Lowercase letters, digits, ".", "_" and "-".'),
      field('Description', description),
      field('Tags', tags, 'key=value, comma-separated. A folder with a .onnx file at its top is tagged format=onnx: ready to build into an image.')),
    h('fieldset', null, h('legend', { text: 'One file, several files or a folder' }),
      field('Model files', files, 'A frozen graph (.pb), an ONNX file, or model.json and its weights.'),
      field('Model folder', folder, 'A SavedModel, TF.js or ONNX folder, sent with its paths.')),
  ], 'Register', async () => {
    const chosen = [...(folder.files.length ? folder.files : files.files)];
    if (!chosen.length) throw new ApiError(400, 'ACCEL_UI_NO_FILE', 'Choose the file(s) or folder to upload.');
    const n = name.value.trim();
    const body = new FormData();
    body.append('name', n);
    body.append('description', description.value.trim());
    body.append('tags', JSON.stringify(pairs(tags.value)));
    // Several loose files become a folder named after the model; a folder keeps its relative paths.
    const loose = chosen.length > 1 && !chosen[0].webkitRelativePath;
    for (const f of chosen) body.append('file', f, f.webkitRelativePath || (loose ? `${n}/${f.name}` : f.name));
    notice(`Uploading ${chosen.length} file(s), ${bytes(chosen.reduce((t, f) => t + f.size, 0))}…`);
    const m = await api('/models', { method: 'POST', body });
    notice(`Registered ${m.id} (${bytes(m.size)}).`);
    form.reset();
    await reload();
  });
  return form;
}

function convert(m) {
  const [outName, inputs, outputs, scale, mean, std, width, height] = [`${m.name}-onnx`, '', '', '1/255', '0.485, 0.456, 0.406', '0.229, 0.224, 0.225', '', ''].map((placeholder) => input({ placeholder }));
  const resize = select(['', 'crop', 'stretch']);
  resize.options[0].text = 'Default';
  const labels = h('textarea', { rows: '3' });
  const triple = (el) => {
    const xs = words(el.value).map(num);
    return xs.length > 1 ? xs : xs[0];
  };
  return jobDialog({
    title: `Convert ${m.id} to ONNX`,
    intro: 'All optional: the converter finds the tensors and infers the preprocessing.',
    ok: 'Convert',
    fields: [
      field('Output model name', outName),
      field('Input tensor names', inputs, 'Comma-separated; empty: the graph\'s.'),
      field('Output tensor names', outputs, 'Comma-separated; empty: the graph\'s.'),
      h('fieldset', null, h('legend', { text: 'Preprocessing the service applies to JPEG/PNG input' }),
        h('div', { class: 'grid' }, field('Scale', scale), field('Mean', mean), field('Std', std), field('Width', width), field('Height', height), field('Resize', resize))),
      field('Class labels', labels, 'In output order, comma- or line-separated.'),
    ],
    submit: async () => {
      const pre = Object.fromEntries(Object.entries({ scale: num(scale.value), mean: triple(mean), std: triple(std), width: num(width.value), height: num(height.value), resize: val(resize) }).filter(([, v]) => v !== undefined));
      const json = { name: val(outName), inputTensors: list(inputs), outputTensors: list(outputs), preprocess: Object.keys(pre).length ? pre : undefined, labels: list(labels) };
      return api(`${modelPath(m)}/convert`, { method: 'POST', json, quiet: true });
    },
  }, `Converting ${m.id}`);
}

function quantize(m) {
  const [calibration, evaluation, outName, exclude, limit] = ['/data/calibration', '', `${m.name}-int8`, '', ''].map((placeholder) => input({ placeholder }));
  const method = select(['percentile', 'minmax', 'entropy']);
  const perChannel = h('input', { type: 'checkbox', checked: true });
  return jobDialog({
    title: `Quantize ${m.id} to int8`,
    intro: 'Calibration images set the int8 ranges; the int8 model is compared with this one, then registered.',
    ok: 'Quantize',
    fields: [
      field('Calibration folder', calibration, `Required: JPEG/PNG images like those the model will see (a few hundred), ${SERVER_SIDE}.`),
      field('Evaluation folder', evaluation, `Optional held-out images, ${SERVER_SIDE}. Empty: every 5th calibration image.`),
      h('div', { class: 'grid' }, field('Method', method, 'How activation ranges are chosen.'), field('Output model name', outName), field('Limit', limit, 'Images read per folder, at most.')),
      field('Per-channel weight scales', perChannel),
      field('Nodes to keep in float', exclude, 'ONNX node names, comma-separated.'),
    ],
    submit: async () => {
      if (!val(calibration)) throw new Error(`Give the calibration folder, ${SERVER_SIDE}.`);
      const json = { calibration: val(calibration), evaluation: val(evaluation), method: method.value, perChannel: perChannel.checked, name: val(outName), limit: num(limit.value), exclude: list(exclude) };
      return api(`${modelPath(m)}/quantize`, { method: 'POST', json, quiet: true });
    },
  }, `Quantizing ${m.id}`);
}

function buildImage(m) {
  const name = input({ value: `${m.name}-image` });
  return jobDialog({
    title: `Build an image serving ${m.id}`,
    ok: 'Build image',
    fields: [field('Image name', name)],
    submit: async () => api('/images', { method: 'POST', json: { name: name.value.trim(), models: [m.id] }, quiet: true }),
  }, `Building an image of ${m.id}`);
}

/** One PATCH: the rows are the new tags; keys no row holds any more are removed (a renamed key is both). */
async function editTags(m, reload) {
  clearError();
  const rows = h('div');
  const renumber = () => [...rows.children].forEach((r, i) => {
    r.querySelector('legend').textContent = `Tag ${i + 1}`;
    r.querySelector('button').setAttribute('aria-label', `Remove tag ${i + 1}`);
  });
  const addRow = (k = '', v = '') => {
    const row = h('fieldset', { class: 'tag' }, h('legend'), field('Key', input({ value: k })), field('Value', input({ value: v })),
      btn('Remove', () => {
        row.remove();
        renumber();
        (rows.querySelector('input') ?? add).focus();
      }));
    rows.append(row);
    renumber();
    return row;
  };
  const add = btn('Add tag', () => addRow().querySelector('input').focus());
  for (const [k, v] of Object.entries(m.tags ?? {})) addRow(k, v);
  const saved = await formDialog({
    title: `Edit tags of ${m.id}`,
    intro: 'Change, remove or add tags; nothing changes until you save.',
    ok: 'Save tags',
    fields: [rows, h('p', null, add)],
    submit: async () => {
      const set = {};
      for (const r of rows.children) {
        const [k, v] = [...r.querySelectorAll('input')].map((i) => i.value.trim());
        if (!k) throw new Error('Every tag needs a key.');
        set[k] = v;
      }
      return api(`${modelPath(m)}/tags`, { method: 'PATCH', json: { set, remove: Object.keys(m.tags ?? {}).filter((k) => !(k in set)) }, quiet: true });
    },
  });
  if (!saved) return;
  notice(`Tags of ${saved.id}: ${tagList(saved.tags)}.`);
  await reload();
}
