// The dashboard's entry: hash routing, #/page[/arg][?query].
import { clearError, health, showError } from './api.js';
import { notice } from './ui.js';
import * as compute from './compute.js';
import * as images from './images.js';
import * as jobs from './jobs.js';
import * as lineage from './lineage.js';
import * as models from './models.js';
import * as services from './services.js';
import * as tryIt from './try.js';


const PAGES = { models, jobs, images, compute, services, try: tryIt, lineage };
const main = (document.getElementById('main'));

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
  let title = '';
  for (const a of document.querySelectorAll('nav a')) {
    const here = a.getAttribute('href') === `#/${name}`;
    a.toggleAttribute('aria-current', here);
    if (here) a.setAttribute('aria-current', 'page'), (title = a.textContent ?? '');
  }
  document.title = `${title} · Accel`;
  try {
    cleanup = PAGES[name].render(main, args, new URLSearchParams(search));
  } catch (err) {
    showError(err);
  }
  // Focus the new page's heading, so keyboard and screen reader users start there.
  const h1 = main.querySelector('h1');
  if (!first && h1) {
    h1.tabIndex = -1;
    h1.focus();
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
  .catch(showError)
  .finally(route);
