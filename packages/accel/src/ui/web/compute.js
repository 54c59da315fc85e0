// Compute targets: accelerators in use and free, the create form, delete.
import { api } from './api.js';
import { badge, delBtn, enc, field, h, input, liveTable, notice, page, pageForm, select, when } from './ui.js';

function usage(c) {
  const pct = Math.round((100 * c.inUse) / Math.max(c.accelerators, 1));
  return h('div', { class: 'usage' }, h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${pct}%` })), `${c.inUse} in use, ${c.free} free of ${c.accelerators}`);
}

export function render(main) {
  const list = liveTable({
    ms: 5000,
    get: () => api('/compute'),
    caption: 'Compute targets',
    empty: 'No compute targets yet: create one below.',
    columns: [
      ['Name', (c) => c.name],
      ['Type', (c) => c.type],
      ['Accelerator', (c) => c.acceleratorType],
      ['State', (c) => badge(c.state)],
      ['Usage', usage],
      ['Used by', (c) => c.users?.join(', ') || '—'],
      ['Created', (c) => when(c.createdAt)],
      ['Actions', (c) => delBtn(`compute ${c.name}`, `/compute/${enc(c.name)}`, list.reload)],
    ],
  });
  const name = input({ required: true });
  const type = select(['local', 'container', 'kubernetes']);
  const count = input({ type: 'number', min: '1', value: '1', required: true, inputmode: 'numeric' });
  const accel = input({ value: 'cpu' });
  const form = pageForm('Create a compute target', [h('div', { class: 'grid' },
    field('Name', name),
    field('Type', type, 'local: processes here; container: runc here; kubernetes: a cluster.'),
    field('Accelerators', count),
    field('Accelerator type', accel))],
  'Create compute target', async () => {
    const c = await api('/compute', { method: 'POST', json: { name: name.value.trim(), type: type.value, accelerators: Number(count.value), acceleratorType: accel.value.trim() || undefined } });
    notice(`Created compute target ${c.name}.`);
    form.reset();
    await list.reload();
  });
  page(main, 'Compute', 'Where services run, and how many of each target\'s accelerators are taken.', list.el, form);
  return list.stop;
}
