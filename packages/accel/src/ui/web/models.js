// @ts-check
// Models: the table, the register form (files or a folder), convert and build-image dialogs, delete.
import { api, ApiError, clearError } from './api.js';
import { loadLineage } from './lineage.js';
import { attempt, bytes, confirmDelete, field, formDialog, h, notice, num, swap, table, tagList, when, words } from './ui.js';

const enc = encodeURIComponent;
const modelPath = m => `/models/${enc(m.name)}/versions/${m.version}`;

/** `k=v, k=v` -> object. @param {string} text */
function parseTags(text) {
  /** @type {Record<string,string>} */
  const tags = {};
  for (const pair of words(text)) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new Error(`Tags are key=value pairs; "${pair}" is not.`);
    tags[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return tags;
}

/** @param {HTMLElement} main */
export function render(main) {
  const list = h('div', null, h('p', { text: 'Loading…' }));
  const graph = h('div');
  const load = async () => {
    const models = await api('/models');
    swap(list, table('Registered models, newest first', [
      ['Name', (m) => m.name],
      ['Version', (m) => m.version],
      ['Stage', (m) => m.stage],
      ['Size', (m) => bytes(m.size)],
      ['Tags', (m) => tagList(m.tags)],
      ['Created', (m) => when(m.createdAt)],
      ['Actions', (m) => h('div', { class: 'acts' },
        m.stage === 'source' ? h('button', { type: 'button', 'aria-label': `Convert ${m.id}`, text: 'Convert', onclick: () => convert(m) }) : null,
        m.stage !== 'source' ? h('button', { type: 'button', 'aria-label': `Build image from ${m.id}`, text: 'Build image', onclick: () => buildImage(m) }) : null,
        h('button', { type: 'button', class: 'danger', 'aria-label': `Delete model ${m.id}`, text: 'Delete', onclick: () => remove(m) }))],
    ], models, 'No models yet. Register one with the form below.'));
    await loadLineage(graph).catch(() => {});
  };
  const remove = async m => {
    if (await confirmDelete(`model ${m.id}`, modelPath(m))) await load();
  };
  main.append(
    h('h1', { text: 'Models' }),
    h('p', { class: 'lead', text: 'TensorFlow models as registered, and the ONNX models converted from them. Convert a source model, then build an image from the converted one.' }),
    list,
    h('section', { 'aria-labelledby': 'lineage-h' }, h('h2', { id: 'lineage-h', text: 'Lineage' }), graph),
    registerForm(load));
  load().catch(() => {});
}

/** @param {() => Promise<void>} reload */
function registerForm(reload) {
  const name = h('input', { name: 'name', required: true, autocomplete: 'off', pattern: '[a-z0-9][a-z0-9._\\-]*' });
  const description = h('input', { name: 'description', autocomplete: 'off' });
  const tags = h('input', { name: 'tags', autocomplete: 'off', placeholder: 'framework=tfjs, task=classify' });
  const files = h('input', { type: 'file', name: 'files', multiple: true });
  const folder = h('input', { type: 'file', name: 'folder', webkitdirectory: true, multiple: true });
  const submit = h('button', { class: 'primary', type: 'submit', text: 'Register' });
  const form = h('form', { 'aria-labelledby': 'register-h', novalidate: true },
    h('h2', { id: 'register-h', text: 'Register a model' }),
    h('div', { class: 'grid' },
      field('Name', name, 'Lowercase letters, digits, ".", "_" and "-".'),
      field('Description', description),
      field('Tags', tags, 'key=value pairs, separated by commas.')),
    h('fieldset', null, h('legend', { text: 'What to upload: one file, several files or a whole folder' }),
      field('Model files', files, 'A frozen graph (.pb), an ONNX file, or model.json with its weight files.'),
      field('Model folder', folder, 'A SavedModel or TF.js folder: every file in it is sent with its path.')),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(async () => {
      const chosen = [...folder.files].length ? [...folder.files] : [...files.files];
      if (!chosen.length) throw new ApiError(400, 'ACCEL_UI_NO_FILE', 'Choose the model file(s) or folder to upload.');
      const body = new FormData();
      body.append('name', name.value.trim());
      if (description.value.trim()) body.append('description', description.value.trim());
      body.append('tags', JSON.stringify(parseTags(tags.value)));
      // Several loose files become a folder named after the model; a folder keeps its relative paths.
      const loose = chosen.length > 1 && !chosen[0].webkitRelativePath;
      for (const f of chosen) body.append('file', f, f.webkitRelativePath || (loose ? `${name.value.trim()}/${f.name}` : f.name));
      const total = chosen.reduce((n, f) => n + f.size, 0);
      submit.disabled = true;
      notice(`Uploading ${chosen.length} file(s), ${bytes(total)}…`);
      try {
        const m = await api('/models', { method: 'POST', body });
        notice(`Registered ${m.id} (${bytes(m.size)}).`);
        form.reset();
        await reload();
      } finally {
        submit.disabled = false;
      }
    });
  });
  return form;
}

/** @param {any} m */
async function convert(m) {
  clearError();
  const outName = h('input', { name: 'name', autocomplete: 'off', placeholder: `${m.name}-onnx` });
  const inputs = h('input', { name: 'inputTensors', autocomplete: 'off' });
  const outputs = h('input', { name: 'outputTensors', autocomplete: 'off' });
  const scale = h('input', { name: 'scale', autocomplete: 'off', placeholder: '1/255' });
  const mean = h('input', { name: 'mean', autocomplete: 'off', placeholder: '0.485, 0.456, 0.406' });
  const std = h('input', { name: 'std', autocomplete: 'off', placeholder: '0.229, 0.224, 0.225' });
  const width = h('input', { name: 'width', type: 'number', min: '1', inputmode: 'numeric' });
  const height = h('input', { name: 'height', type: 'number', min: '1', inputmode: 'numeric' });
  const resize = h('select', { name: 'resize' }, h('option', { value: '', text: 'Default' }), h('option', { value: 'crop', text: 'Centre crop' }), h('option', { value: 'stretch', text: 'Stretch' }));
  const labels = h('textarea', { name: 'labels', rows: '3' });
  const triple = t => {
    const xs = words(t).map((w) => num(w));
    return xs.length === 0 ? undefined : xs.length === 1 ? xs[0] : xs;
  };
  const job = await formDialog({
    title: `Convert ${m.id} to ONNX`,
    intro: 'Everything is optional: the converter finds the tensors and infers the preprocessing from the input shape.',
    ok: 'Convert',
    fields: [
      field('Output model name', outName),
      field('Input tensor names', inputs, 'Comma-separated; empty: the graph inputs.'),
      field('Output tensor names', outputs, 'Comma-separated; empty: the graph outputs.'),
      h('fieldset', null, h('legend', { text: 'Preprocessing the service applies to JPEG/PNG input' }),
        h('div', { class: 'grid' }, field('Scale', scale), field('Mean', mean), field('Std', std), field('Width', width), field('Height', height), field('Resize', resize))),
      field('Class labels', labels, 'One per line or comma-separated, in output order.'),
    ],
    submit: async () => {
      /** @type {Record<string, any>} */
      const pre = { scale: num(scale.value), mean: triple(mean.value), std: triple(std.value), width: num(width.value), height: num(height.value), resize: resize.value || undefined };
      for (const k of Object.keys(pre)) if (pre[k] === undefined) delete pre[k];
      /** @type {Record<string, any>} */
      const body = {};
      if (outName.value.trim()) body.name = outName.value.trim();
      if (words(inputs.value).length) body.inputTensors = words(inputs.value);
      if (words(outputs.value).length) body.outputTensors = words(outputs.value);
      if (Object.keys(pre).length) body.preprocess = pre;
      if (words(labels.value).length) body.labels = words(labels.value);
      return api(`${modelPath(m)}/convert`, { method: 'POST', json: body, quiet: true });
    },
  });
  if (job?.job) {
    notice(`Converting ${m.id}: job ${job.job}.`);
    location.hash = `#/jobs/${enc(job.job)}`;
  }
}

/** @param {any} m */
async function buildImage(m) {
  clearError();
  const name = h('input', { name: 'name', required: true, autocomplete: 'off', value: `${m.name}-image` });
  const res = await formDialog({
    title: `Build an image serving ${m.id}`,
    intro: 'An OCI image with the server and this model, built in the workspace (no Docker daemon).',
    ok: 'Build image',
    fields: [field('Image name', name)],
    submit: () => api('/images', { method: 'POST', json: { name: name.value.trim(), models: [m.id] }, quiet: true }),
  });
  if (res?.job) {
    notice(`Building image ${res.image}: job ${res.job}.`);
    location.hash = `#/jobs/${enc(res.job)}`;
  }
}
