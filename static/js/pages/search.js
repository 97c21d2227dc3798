import { t } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, $, houseCard, fillAreas, todayStr, addDays, isDate, showError, hideAlert, emptyHtml, readPriceGuests, filterProblem, urlFilters } from '../ui.js';

await initPage();

const form = $('#filters');
const list = $('#results');
const status = $('#results-status');
const sentinel = $('#sentinel');
const alertBox = $('#filter-alert');
const today = todayStr();

/* ---------- filters <-> URL ---------- */
const params = new URLSearchParams(location.search);
const state = {
  aid: params.get('aid') || '',
  sd: isDate(params.get('sd')) ? params.get('sd') : '',
  ed: isDate(params.get('ed')) ? params.get('ed') : '',
  sk: ['new', 'booking', 'price-inc', 'price-des', 'rating'].includes(params.get('sk')) ? params.get('sk') : 'new',
  ...urlFilters(params), // min_price, max_price (yuan per night), guests
};
form.sd.min = today;
form.ed.min = addDays(today, 1);
for (const k of ['sd', 'ed', 'sk', 'min_price', 'max_price', 'guests']) form[k].value = state[k];
try {
  fillAreas(form.aid, (await api('/areas')) || [], state.aid);
} catch (err) {
  showError(alertBox, err);
}

function readForm() {
  return { aid: form.aid.value, sd: form.sd.value, ed: form.ed.value, sk: form.sk.value, ...readPriceGuests(form) };
}
function syncUrl() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v && !(k === 'sk' && v === 'new')) q.set(k, v);
  history.replaceState(null, '', 'search.html' + (q.toString() ? '?' + q : ''));
}

/* ---------- paging: pages of 10, infinite scroll ---------- */
let page = 0;          // last page loaded
let totalPage = 1;
let loading = false;
let generation = 0;    // drops answers to an older filter
let shown = 0;
let failed = false;    // after an error only the retry button loads again

function setStatus(content) { render(status, content); }

async function loadNext({ retry = false } = {}) {
  if (retry) failed = false;
  if (loading || failed || page >= totalPage) return;
  loading = true;
  const gen = generation;
  list.setAttribute('aria-busy', 'true');
  setStatus(html`<span class="spinner" aria-hidden="true"></span>${page === 0 ? t('common.loading') : t('search.loadingMore')}`);
  try {
    const { aid, sd, ed, sk, min_price, max_price, guests } = state;
    const data = await api('/houses', { query: { aid, sd, ed, sk, min_price, max_price, guests, p: page + 1 } });
    if (gen !== generation) return;
    const houses = (data && data.houses) || [];
    page = Number(data.current_page) || page + 1;
    totalPage = Number(data.total_page) || 0;
    const extra = (state.sd ? `&sd=${state.sd}` : '') + (state.ed ? `&ed=${state.ed}` : '');
    list.insertAdjacentHTML('beforeend', houses.map((h) => houseCard(h, extra)).join(''));
    shown += houses.length;
    if (shown === 0) setStatus(emptyHtml(t('search.empty')));
    else if (page >= totalPage || houses.length === 0) { totalPage = page; setStatus(t('search.end')); }
    else setStatus(html`<button type="button" class="btn btn-ghost" id="more">${t('search.more')}</button>`);
  } catch (err) {
    if (gen !== generation) return;
    failed = true;
    if (err.errno === '4103') {
      // A filter the server refused: its message goes with the filters, no retry (same query, same answer).
      showError(alertBox, err);
      setStatus('');
      return;
    }
    setStatus(html`<div class="alert alert-error" role="alert">${err.message}</div>
      <button type="button" class="btn btn-ghost" id="more">${t('common.retry')}</button>`);
  } finally {
    if (gen === generation) {
      loading = false;
      list.setAttribute('aria-busy', 'false');
      // The sentinel may still be on screen (short pages, tall windows): keep going.
      requestAnimationFrame(() => { if (isVisible(sentinel) && page < totalPage) loadNext(); });
    }
  }
}

function isVisible(el) {
  const r = el.getBoundingClientRect();
  return r.top < innerHeight + 300 && r.bottom >= 0;
}

function restart() {
  generation += 1;
  page = 0;
  totalPage = 1;
  shown = 0;
  loading = false;
  failed = false;
  list.innerHTML = '';
  syncUrl();
  loadNext();
}

status.addEventListener('click', (e) => { if (e.target.id === 'more') loadNext({ retry: true }); });
new IntersectionObserver((entries) => {
  if (entries.some((en) => en.isIntersecting)) loadNext();
}, { rootMargin: '300px 0px' }).observe(sentinel);

form.addEventListener('submit', (e) => {
  e.preventDefault();
  hideAlert(alertBox);
  const next = readForm();
  for (const el of [form.min_price, form.max_price, form.guests]) el.removeAttribute('aria-invalid');
  if (next.sd && next.ed && next.ed <= next.sd) return showError(alertBox, t('v.datesOrder'));
  const problem = filterProblem(next);
  if (problem) {
    form[problem.field].setAttribute('aria-invalid', 'true');
    form[problem.field].focus();
    return showError(alertBox, problem.message);
  }
  Object.assign(state, next);
  restart();
});
form.sk.addEventListener('change', () => form.requestSubmit());
form.aid.addEventListener('change', () => form.requestSubmit());
form.sd.addEventListener('change', () => {
  if (form.sd.value) form.ed.min = addDays(form.sd.value, 1);
});

syncUrl();
loadNext();
