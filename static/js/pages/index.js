import { t } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, raw, $, $$, money, imgOr, houseCard, fillAreas, todayStr, addDays, loadingHtml, showError, hideAlert, readPriceGuests, filterProblem } from '../ui.js';

const user = await initPage();

/* ---------- login-aware links ---------- */
render($('#index-links'), user
  ? html`<span class="muted">${t('index.hello', { name: user.name })}</span>
      <a href="myhouse.html">${t('index.publish')}</a>`
  : html`<a href="login.html">${t('nav.login')}</a><span class="muted">·</span><a href="register.html">${t('nav.register')}</a>`);

/* ---------- search form ---------- */
const form = $('#search-form');
const sd = $('#sd');
const ed = $('#ed');
const today = todayStr();
sd.min = today;
ed.min = addDays(today, 1);
sd.addEventListener('change', () => {
  if (sd.value) {
    ed.min = addDays(sd.value, 1);
    if (ed.value && ed.value <= sd.value) ed.value = addDays(sd.value, 1);
  }
});
api('/areas').then((areas) => fillAreas($('#aid'), areas || []))
  .catch((err) => showError($('#search-alert'), err));
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const box = $('#search-alert');
  hideAlert(box);
  for (const el of [form.min_price, form.max_price, form.guests]) el.removeAttribute('aria-invalid');
  if (sd.value && ed.value && ed.value <= sd.value) return showError(box, t('v.datesOrder'));
  const filters = readPriceGuests(form);
  const problem = filterProblem(filters);
  if (problem) {
    form[problem.field].setAttribute('aria-invalid', 'true');
    form[problem.field].focus();
    return showError(box, problem.message);
  }
  const q = new URLSearchParams();
  for (const k of ['aid', 'sd', 'ed']) if (form[k].value) q.set(k, form[k].value);
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  location.assign('search.html' + (q.toString() ? '?' + q : ''));
});

/* ---------- the newest houses ---------- */
api('/houses', { query: { sk: 'new', p: 1 } }).then((data) => {
  const list = ((data && data.houses) || []).slice(0, 6);
  if (!list.length) return;
  render($('#latest-list'), list.map((h) => houseCard(h)));
  $('#latest').hidden = false;
}).catch(() => { /* the carousel and search still work */ });

/* ---------- carousel ---------- */
const box = $('#carousel');
render(box, html`<div class="hero-empty">${loadingHtml()}</div>`);
let houses = [];
try {
  houses = await api('/house/index');
  if (!Array.isArray(houses)) houses = [];
} catch (err) {
  render(box, html`<div class="hero-empty"><div><h2>${t('site.slogan')}</h2><p>${err.message}</p></div></div>`);
  houses = null;
}
if (houses && houses.length === 0) {
  render(box, html`<div class="hero-empty"><div><h2>${t('site.slogan')}</h2><p>${t('index.noHouses')}</p></div></div>`);
} else if (houses) {
  render(box, html`
    <div class="carousel-track" id="track" tabindex="0" aria-roledescription="carousel" aria-label="${t('index.carousel')}">
      ${houses.map((h, i) => html`<div class="slide" role="group" aria-roledescription="slide" aria-label="${t('index.slide', { n: i + 1 })}">
        <a href="detail.html?id=${h.house_id}">
          <img src="${imgOr(h.img_url)}" alt="" ${i ? raw('loading="lazy"') : ''}>
          <div class="slide-caption"><h2>${h.title}</h2><p>${money(h.price)}${t('common.perNight')} · ${h.area_name || ''}</p></div>
        </a></div>`)}
    </div>
    ${houses.length > 1 ? html`
      <button type="button" class="carousel-btn prev" aria-label="${t('index.prev')}">‹</button>
      <button type="button" class="carousel-btn next" aria-label="${t('index.next')}">›</button>
      <div class="carousel-dots">${houses.map((_, i) => html`<button type="button" aria-label="${t('index.slide', { n: i + 1 })}" data-i="${i}"></button>`)}</div>` : ''}`);
  const track = $('#track');
  const dots = $$('.carousel-dots button', box);
  let current = 0;
  const go = (i) => {
    current = (i + houses.length) % houses.length;
    track.scrollTo({ left: current * track.clientWidth });
  };
  const mark = () => {
    current = Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
    dots.forEach((d, i) => d.setAttribute('aria-current', i === current ? 'true' : 'false'));
  };
  mark();
  track.addEventListener('scroll', () => requestAnimationFrame(mark), { passive: true });
  $('.carousel-btn.prev', box)?.addEventListener('click', () => go(current - 1));
  $('.carousel-btn.next', box)?.addEventListener('click', () => go(current + 1));
  dots.forEach((d) => d.addEventListener('click', () => go(Number(d.dataset.i))));
  track.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight') { e.preventDefault(); go(current + 1); }
    if (e.key === 'ArrowLeft') { e.preventDefault(); go(current - 1); }
  });
  // Autoplay, paused while the pointer or focus is on it, or motion is reduced.
  const reduced = matchMedia('(prefers-reduced-motion: reduce)').matches;
  let hovered = false;
  let focused = false;
  const hero = box.closest('.hero');
  hero.addEventListener('mouseenter', () => { hovered = true; });
  hero.addEventListener('mouseleave', () => { hovered = false; });
  hero.addEventListener('focusin', () => { focused = true; });
  hero.addEventListener('focusout', () => { focused = false; });
  if (houses.length > 1 && !reduced) {
    setInterval(() => { if (!hovered && !focused && !document.hidden) go(current + 1); }, 5000);
  }
}
