// @ts-check
// The dashboard's entry: hash routing (#/models, #/jobs[/id], #/images, #/compute, #/services[/name], #/try[/name], #/lineage).
import { clearError, health, showError } from './api.js';
import { notice } from './ui.js';
import * as compute from './compute.js';
import * as images from './images.js';
import * as jobs from './jobs.js';
import * as lineage from './lineage.js';
import * as models from './models.js';
import * as services from './services.js';
import * as tryIt from './try.js';

/** @type {Record<string, {render: (main: HTMLElement, args: string[], query: URLSearchParams) => (void | (() => void))}>} */
const PAGES = { models, jobs, images, compute, services, try: tryIt, lineage };
const TITLES = { models: 'Models', jobs: 'Jobs', images: 'Images', compute: 'Compute', services: 'Services', try: 'Try it', lineage: 'Lineage' };

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
/** @type {(() => void) | void} */
let cleanup;
let first = true;

function route() {
  const [path, search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [page = 'models', ...args] = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = page in PAGES ? page : 'models';
  if (typeof cleanup === 'function') cleanup();
  clearError();
  notice('');
  main.replaceChildren();
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[/** @type {keyof TITLES} */ (name)]} · Accel`;
  try {
    cleanup = PAGES[name].render(main, args, new URLSearchParams(search));
  } catch (err) {
    showError(err);
  }
  // Move focus to the new page's heading, so keyboard and screen reader users start there.
  if (!first) {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus();
    }
  }
  first = false;
}

document.getElementById('skip')?.addEventListener('click', () => main.focus());
window.addEventListener('hashchange', route);
health()
  .then((hl) => {
    const ws = document.getElementById('ws');
    if (ws) ws.textContent = `Workspace ${hl.workspace} · ${hl.metadata}${hl.auth ? ' · key required' : ''}`;
  })
  .catch((err) => showError(err))
  .finally(route);
