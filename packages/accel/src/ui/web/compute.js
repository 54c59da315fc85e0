// @ts-check
// Compute targets: accelerators in use and free, the create form, delete.
import { api } from './api.js';
import { attempt, badge, confirmDelete, every, field, h, notice, swap, table, when } from './ui.js';

/** A usage bar with its numbers as text. @param {any} c */
function usage(c) {
  const total = Math.max(c.accelerators ?? c.inUse + c.free, 1);
  const pct = Math.round((100 * c.inUse) / total);
  return h('div', { class: 'usage' },
    h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${pct}%` })),
    h('span', { text: `${c.inUse} in use, ${c.free} free of ${c.accelerators}` }));
}

/** @param {HTMLElement} main */
export function render(main) {
  const box = h('div', null, h('p', { text: 'Loading…' }));
  let last = '';
  const load = async (force = false) => {
    const targets = await api('/compute');
    const key = JSON.stringify(targets);
    if (key === last && !force) return;
    last = key;
    swap(box, table('Compute targets', [
      ['Name', (c) => c.name],
      ['Type', (c) => c.type],
      ['Accelerator', (c) => c.acceleratorType],
      ['State', (c) => badge(c.state)],
      ['Usage', usage],
      ['Used by', (c) => c.users?.join(', ') || '—'],
      ['Created', (c) => when(c.createdAt)],
      ['Actions', (c) => h('button', { type: 'button', class: 'danger', 'aria-label': `Delete compute ${c.name}`, text: 'Delete',
        onclick: async () => { if (await confirmDelete(`compute ${c.name}`, `/compute/${encodeURIComponent(c.name)}`)) await load(true); } })],
    ], targets, 'No compute targets yet. Create one below; services are deployed onto them.'));
  };
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const type = h('select', { name: 'type' }, ['local', 'container', 'kubernetes'].map((t) => h('option', { value: t, text: t })));
  const count = h('input', { name: 'accelerators', type: 'number', min: '1', value: '1', required: true, inputmode: 'numeric' });
  const accel = h('input', { name: 'acceleratorType', autocomplete: 'off', value: 'cpu' });
  const form = h('form', { 'aria-labelledby': 'compute-h', novalidate: true },
    h('h2', { id: 'compute-h', text: 'Create a compute target' }),
    h('div', { class: 'grid' },
      field('Name', name),
      field('Type', type, 'local: server processes here; container: runc containers here; kubernetes: a cluster.'),
      field('Accelerators', count),
      field('Accelerator type', accel)),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit', text: 'Create compute target' })));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(async () => {
      const c = await api('/compute', { method: 'POST', json: { name: name.value.trim(), type: type.value, accelerators: Number(count.value), acceleratorType: accel.value.trim() || undefined } });
      notice(`Created compute target ${c.name}.`);
      form.reset();
      await load(true);
    });
  });
  main.append(h('h1', { text: 'Compute' }),
    h('p', { class: 'lead', text: 'Where services run, and how many of each target\'s accelerators are taken.' }), box, form);
  return every(5000, load);
}
