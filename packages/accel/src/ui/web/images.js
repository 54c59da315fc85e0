// Images: built OCI images, their state and build logs; deploy or delete one.
import { api } from './api.js';
import { badge, bytes, delBtn, enc, h, linkBtn, liveTable, page, tagList, when } from './ui.js';

export function render(main) {
  const list = liveTable({
    ms: 3000,
    get: () => api('/images'),
    caption: 'Container images',
    empty: 'No images yet: build one on the Models page.',
    columns: [
      ['Image', (i) => i.id],
      ['State', (i) => badge(i.state)],
      ['Size', (i) => bytes(i.size)],
      ['Models', (i) => i.models.join(', ')],
      ['Tags', (i) => tagList(i.tags)],
      ['Digest', (i) => (i.digest ? h('code', { title: i.digest, text: `${i.digest.slice(0, 19)}…` }) : '—')],
      ['Created', (i) => when(i.createdAt)],
      ['Actions', (i) => h('div', { class: 'acts' },
        i.jobId ? linkBtn('Build log', `#/jobs/${enc(i.jobId)}`, `Build log of ${i.id}`) : null,
        i.state === 'Succeeded' ? linkBtn('Deploy', `#/services?image=${enc(i.id)}`, `Deploy ${i.id}`) : null,
        delBtn(`image ${i.id}`, `/images/${enc(i.name)}/versions/${i.version}`, list.reload))],
    ],
  });
  page(main, 'Images', 'Images serving models, refreshed every 3 s.', list.el);
  return list.stop;
}
