// @ts-check
// Images: built OCI images, their state, build logs; deploy or delete one.
import { api } from './api.js';
import { badge, bytes, confirmDelete, every, h, swap, table, tagList, when } from './ui.js';

const enc = encodeURIComponent;

/** @param {HTMLElement} main */
export function render(main) {
  const box = h('div', null, h('p', { text: 'Loading…' }));
  let last = '';
  const load = async (force = false) => {
    const images = await api('/images');
    const key = JSON.stringify(images);
    if (key === last && !force) return;
    last = key;
    swap(box, table('Container images', [
      ['Image', (i) => i.id],
      ['State', (i) => badge(i.state)],
      ['Size', (i) => bytes(i.size)],
      ['Models', (i) => i.models.join(', ')],
      ['Tags', (i) => tagList(i.tags)],
      ['Digest', (i) => (i.digest ? h('code', { title: i.digest, text: `${i.digest.slice(0, 19)}…` }) : '—')],
      ['Created', (i) => when(i.createdAt)],
      ['Actions', (i) => h('div', { class: 'acts' },
        i.jobId ? h('a', { class: 'button', href: `#/jobs/${enc(i.jobId)}`, 'aria-label': `Build log of ${i.id}`, text: 'Build log' }) : null,
        i.state === 'Succeeded' ? h('a', { class: 'button', href: `#/services?image=${enc(i.id)}`, 'aria-label': `Deploy ${i.id}`, text: 'Deploy' }) : null,
        h('button', { type: 'button', class: 'danger', 'aria-label': `Delete image ${i.id}`, text: 'Delete',
          onclick: async () => { if (await confirmDelete(`image ${i.id}`, `/images/${enc(i.name)}/versions/${i.version}`)) await load(true); } }))],
    ], images, 'No images yet. Build one from a converted model on the Models page.'));
  };
  main.append(h('h1', { text: 'Images' }),
    h('p', { class: 'lead', text: 'Container images serving converted models. The list refreshes every 3 seconds.' }), box);
  return every(3000, load);
}
