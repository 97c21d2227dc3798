// Shared page furniture: header/nav, safe HTML templates, alerts, toasts,
// dialogs, money and date helpers, the captcha uuid, the house card, star
// ratings, the search filters' checks and the booked-dates calendar.
import { t, applyI18n, locale } from './i18n.js';
import { api, getSession, redirectToLogin } from './api.js';

/* ---------- safe templates ---------- */

class Html {
  constructor(s) { this.s = s; }
  toString() { return this.s; }
}
export const raw = (s) => new Html(String(s));
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);
function fmt(v) {
  if (v instanceof Html) return v.s;
  if (Array.isArray(v)) return v.map(fmt).join('');
  if (v === null || v === undefined || v === false) return '';
  return esc(v);
}
/** Tagged template: interpolations are escaped unless they are html`` results. */
export function html(strings, ...vals) {
  let out = strings[0];
  vals.forEach((v, i) => { out += fmt(v) + strings[i + 1]; });
  return new Html(out);
}
export function render(el, tpl) { el.innerHTML = fmt(tpl); }
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/* ---------- page frame ---------- */

const PLACEHOLDER_HOUSE = '/img/house.svg';
const PLACEHOLDER_AVATAR = '/img/avatar.svg';
export const imgOr = (url, kind = 'house') => url || (kind === 'avatar' ? PLACEHOLDER_AVATAR : PLACEHOLDER_HOUSE);

function currentPage() {
  const p = location.pathname.split('/').pop() || 'index.html';
  return p.replace(/\.html$/, '') || 'index';
}

function navLink(href, key) {
  const here = currentPage() === href.replace('.html', '');
  return html`<li class="nav-${href.replace('.html', '')}"><a href="${href}" ${here ? raw('aria-current="page"') : ''}>${t(key)}</a></li>`;
}

const USER_ICON = raw('<svg viewBox="0 0 24 24" width="16" height="16" fill="currentColor"><circle cx="12" cy="8" r="4.2"/><path d="M3.5 21c.9-4.3 4.2-7 8.5-7s7.6 2.7 8.5 7z"/></svg>');

const MAIL_ICON = raw('<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"><rect x="3" y="5.5" width="18" height="13" rx="2"/><path d="m3.5 7 8.5 6 8.5-6"/></svg>');

/**
 * The header's messages link: an icon, and the unread count as a badge.
 * `data-unread` holds the count once the server told it (absent before).
 */
function messagesLink(unread) {
  const here = ['messages', 'conversation'].includes(currentPage());
  const label = unread ? t('nav.unread', { n: unread }) : t('nav.messages');
  const known = unread === undefined ? '' : raw(`data-unread="${Number(unread)}"`);
  return html`<li><a class="nav-messages" id="nav-messages" href="messages.html" title="${label}" ${known} ${here ? raw('aria-current="page"') : ''}>
    <span aria-hidden="true">${MAIL_ICON}</span><span class="visually-hidden">${label}</span>
    ${unread ? html`<span class="nav-badge" id="nav-unread" aria-hidden="true">${unread > 99 ? '99+' : unread}</span>` : ''}</a></li>`;
}

function renderHeader(user, unread) {
  const header = $('#site-header');
  if (!header) return;
  const page = currentPage();
  let userPart;
  if (user === undefined) userPart = '';
  else if (user) {
    const mine = ['my', 'profile', 'auth', 'myhouse', 'newhouse', 'orders', 'lorders'].includes(page);
    userPart = html`${messagesLink(unread)}<li><a class="nav-user" href="my.html" ${mine ? raw('aria-current="page"') : ''}>
      <span class="nav-user-icon" aria-hidden="true">${USER_ICON}</span>
      <span class="nav-user-name">${user.name}</span></a></li>`;
  } else {
    userPart = html`${navLink('login.html', 'nav.login')}
      <li><a class="btn btn-small" href="register.html" ${page === 'register' ? raw('aria-current="page"') : ''}>${t('nav.register')}</a></li>`;
  }
  render(header, html`<div class="header-inner">
    <a class="brand" href="index.html"><img src="/favicon.svg" alt="" width="30" height="30"><span>${t('site.name')}</span></a>
    <nav aria-label="${t('nav.main')}"><ul class="nav-list">
      ${navLink('index.html', 'nav.home')}
      ${navLink('search.html', 'nav.search')}
      ${userPart}
    </ul></nav>
  </div>`);
}

function renderFooter() {
  const footer = $('#site-footer');
  if (!footer) return;
  const other = locale === 'zh-CN' ? 'en' : 'zh-CN';
  const q = new URLSearchParams(location.search);
  q.set('lang', other);
  render(footer, html`<div class="footer-inner">© ${new Date().getFullYear()} ${t('site.footer')}
    · <a href="?${q}" hreflang="${other}" lang="${other}">${t('site.language')}</a></div>`);
}

/**
 * Call first on every page: fills the i18n strings, the header and footer.
 * Resolves to the logged-in user, null, or undefined when unknown (network).
 * With requireLogin a visitor is sent to login.html?next=… (never resolves).
 */
export async function initPage({ requireLogin = false } = {}) {
  applyI18n();
  renderHeader(undefined);
  renderFooter();
  let user;
  try {
    user = await getSession();
  } catch {
    user = undefined;
  }
  renderHeader(user);
  if (requireLogin && user === null) {
    redirectToLogin();
    return new Promise(() => {});
  }
  headerUser = user;
  refreshUnread();
  return user;
}

let headerUser;
let unreadAsked = 0;

/**
 * Asks for the user's unread messages (one small request; none for a
 * visitor) and shows them on the header's messages link. The page goes on
 * meanwhile; a failure leaves the link without a badge. A page that marks
 * messages read calls it again once they are.
 */
export async function refreshUnread() {
  if (!headerUser || !$('#site-header')) return;
  const asked = ++unreadAsked;
  try {
    const data = await api('/user/conversations/unread', { on4101: 'throw' });
    // An earlier ask answered late must not undo a later one.
    if (asked === unreadAsked) renderHeader(headerUser, (data && data.unread) || 0);
  } catch {
    // No badge: the conversations list still shows every count.
  }
}

/* ---------- feedback ---------- */

/** Shows `err` (an ApiError or a string) in the role=alert box `box`. */
export function showError(box, err) {
  if (err && err.redirecting) return;
  const msg = typeof err === 'string' ? err : (err && err.message) || t('err.unknown');
  box.textContent = msg;
  box.className = 'alert alert-error';
  box.hidden = false;
}
export function showOk(box, msg) {
  box.textContent = msg;
  box.className = 'alert alert-ok';
  box.hidden = false;
}
export function hideAlert(box) {
  box.hidden = true;
  box.textContent = '';
}

let toastBox;
export function toast(msg, kind = 'ok') {
  if (!toastBox) {
    toastBox = document.createElement('div');
    toastBox.className = 'toast-box';
    toastBox.setAttribute('role', 'status');
    toastBox.setAttribute('aria-live', 'polite');
    document.body.append(toastBox);
  }
  const item = document.createElement('div');
  item.className = `toast toast-${kind}`;
  item.textContent = msg;
  toastBox.append(item);
  setTimeout(() => item.remove(), 3500);
}

export const loadingHtml = () => html`<div class="state state-loading" role="status"><span class="spinner" aria-hidden="true"></span>${t('common.loading')}</div>`;
export const emptyHtml = (msg, action) => html`<div class="state state-empty"><p>${msg}</p>${action || ''}</div>`;
export const errorHtml = (err) => html`<div class="alert alert-error" role="alert">${(err && err.message) || t('err.unknown')}</div>`;

/** Disables `btn` (aria-busy) while `fn` runs. */
export async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

/* ---------- dialogs ---------- */

function dialogShell(inner) {
  const dlg = document.createElement('dialog');
  dlg.className = 'dialog';
  render(dlg, inner);
  document.body.append(dlg);
  dlg.addEventListener('close', () => setTimeout(() => dlg.remove(), 0));
  dlg.showModal();
  return dlg;
}

/** Asks to confirm `message` (text or html``); `cancelText` names the way back. */
export function confirmDialog(message, okText = t('common.confirm'), { cancelText = t('common.cancel') } = {}) {
  return new Promise((resolve) => {
    const dlg = dialogShell(html`<form method="dialog" class="dialog-body">
      <p class="dialog-message">${message}</p>
      <div class="dialog-actions">
        <button type="submit" value="cancel" class="btn btn-ghost">${cancelText}</button>
        <button type="submit" value="ok" class="btn" autofocus>${okText}</button>
      </div></form>`);
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'));
  });
}

/**
 * Asks for a text (comment, reject or cancel reason), under an optional
 * `message`. `submit(text)` runs while the
 * dialog is open; its errors are shown inside it. Resolves true when done.
 */
export function textDialog({ title, message = '', label, placeholder = '', maxlength = 500, emptyMsg, okText = t('common.submit'), cancelText = t('common.cancel'), submit }) {
  return new Promise((resolve) => {
    const id = 'dlg-text-' + Math.random().toString(36).slice(2);
    const dlg = dialogShell(html`<form class="dialog-body" novalidate>
      <h2 class="dialog-title">${title}</h2>
      ${message ? html`<p class="dialog-message">${message}</p>` : ''}
      <label for="${id}">${label}</label>
      <textarea id="${id}" name="text" rows="4" maxlength="${maxlength}" placeholder="${placeholder}" required></textarea>
      <div class="alert" role="alert" hidden></div>
      <div class="dialog-actions">
        <button type="button" class="btn btn-ghost" data-act="cancel">${cancelText}</button>
        <button type="submit" class="btn">${okText}</button>
      </div></form>`);
    let done = false;
    const form = $('form', dlg);
    const box = $('.alert', dlg);
    $('[data-act=cancel]', dlg).addEventListener('click', () => dlg.close());
    form.text.addEventListener('input', () => hideAlert(box));
    dlg.addEventListener('close', () => resolve(done));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = form.text.value.trim();
      if (!text) return showError(box, emptyMsg);
      try {
        await busy($('button[type=submit]', form), () => submit(text));
        done = true;
        dlg.close();
      } catch (err) {
        showError(box, err);
      }
    });
  });
}

/**
 * Asks for a review: a required 1–5 star rating (a radio group: arrow keys
 * move and pick, like any radio group) and a text. `submit({rating, comment})`
 * runs while the dialog is open; its errors are shown inside it.
 */
export function reviewDialog({ submit }) {
  const RATING_WORDS = [t('rating.word1'), t('rating.word2'), t('rating.word3'), t('rating.word4'), t('rating.word5')];
  return new Promise((resolve) => {
    const id = 'dlg-review-' + Math.random().toString(36).slice(2);
    const dlg = dialogShell(html`<form class="dialog-body" novalidate>
      <h2 class="dialog-title">${t('orders.commentTitle')}</h2>
      <fieldset class="star-pick" id="${id}-stars">
        <legend>${t('orders.ratingLabel')}</legend>
        <div class="star-pick-row">
          ${[1, 2, 3, 4, 5].map((n) => html`<input type="radio" class="star-radio" id="${id}-r${n}" name="rating" value="${n}">
            <label for="${id}-r${n}"><span aria-hidden="true">★</span><span class="visually-hidden">${starsText(n)}</span></label>`)}
          <span class="star-pick-word" aria-hidden="true"></span>
        </div>
      </fieldset>
      <label for="${id}">${t('orders.commentLabel')}</label>
      <textarea id="${id}" name="text" rows="4" maxlength="500" placeholder="${t('orders.commentPlaceholder')}" required></textarea>
      <div class="alert" role="alert" hidden></div>
      <div class="dialog-actions">
        <button type="button" class="btn btn-ghost" data-act="cancel">${t('common.cancel')}</button>
        <button type="submit" class="btn">${t('orders.comment')}</button>
      </div></form>`);
    let done = false;
    const form = $('form', dlg);
    const box = $('.alert', dlg);
    const word = $('.star-pick-word', dlg);
    $('[data-act=cancel]', dlg).addEventListener('click', () => dlg.close());
    form.addEventListener('input', () => hideAlert(box));
    form.addEventListener('change', (e) => {
      if (e.target.name === 'rating') word.textContent = RATING_WORDS[Number(e.target.value) - 1] || '';
    });
    dlg.addEventListener('close', () => resolve(done));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const picked = form.querySelector('input[name=rating]:checked');
      const text = form.text.value.trim();
      if (!picked) {
        showError(box, t('orders.ratingEmpty'));
        form.querySelector('input[name=rating]').focus();
        return;
      }
      if (!text) {
        showError(box, t('orders.commentEmpty'));
        form.text.focus();
        return;
      }
      try {
        await busy($('button[type=submit]', form), () => submit({ rating: Number(picked.value), comment: text }));
        done = true;
        dlg.close();
      } catch (err) {
        showError(box, err);
      }
    });
  });
}

/* ---------- formats ---------- */

/** Integer fen → yuan text without a trailing .00 (29950 → "299.50"). */
export function yuan(fen) {
  const n = Number(fen) || 0;
  return n % 100 === 0 ? String(n / 100) : (n / 100).toFixed(2);
}
export const money = (fen) => '¥' + yuan(fen);

/** "2026-11-27" → "11月27日" (this year) or "2027年1月3日". */
export function dateText(s) {
  if (!isDate(s)) return s || '';
  const [y, m, d] = s.split('-').map(Number);
  return y === new Date().getFullYear() ? t('date.md', { m, d }) : t('date.ymd', { y, m, d });
}

/**
 * A server timestamp ("2026-12-08 16:10:00", the app's zone) as a Date. The
 * pages read the app's zone as the visitor's own, as they do for "today".
 */
function timestampDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?/.exec(s || '');
  return m ? new Date(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) : null;
}

/** "2026-12-08 16:10:00" → "12月8日 16:10". */
export function timeText(s) {
  const d = timestampDate(s);
  return d ? `${dateText(s.slice(0, 10))} ${s.slice(11, 16)}` : s || '';
}

/** "3 h 20 min left" until `s`, or '' once it has passed. */
export function timeLeftText(s, now = Date.now()) {
  const d = timestampDate(s);
  if (!d || d.getTime() <= now) return '';
  const mins = Math.max(1, Math.floor((d.getTime() - now) / 60000));
  const h = Math.floor(mins / 60);
  return h ? t('orders.timeLeft', { h, m: mins % 60 }) : t('orders.timeLeftMin', { m: mins });
}

/** Check-in is 14:00 on the first day of a stay. */
export const CHECK_IN_HOUR = 14;
export function beforeCheckIn(startDate, now = Date.now()) {
  const d = timestampDate(`${startDate} ${pad(CHECK_IN_HOUR)}:00`);
  return Boolean(d) && now < d.getTime();
}

/* ---------- booking rules: instant book and the cancellation policy ---------- */

export const CANCEL_POLICIES = ['flexible', 'moderate', 'strict'];
const policyOf = (p) => (CANCEL_POLICIES.includes(p) ? p : 'flexible');
/** "Flexible", "Moderate", "Strict". */
export const policyName = (p) => t('policy.' + policyOf(p));
/** The policy's refund rule in one sentence. */
export const policyRule = (p) => t('policyRule.' + policyOf(p));

/** The "instant book" badge of cards and the detail page. */
export function instantBadge(cls = '') {
  return html`<span class="instant-badge ${cls}"><span aria-hidden="true">⚡</span>${t('house.instant')}</span>`;
}

/* ---------- dates (calendar dates as YYYY-MM-DD, computed in UTC) ---------- */

const pad = (n) => String(n).padStart(2, '0');
export function todayStr() {
  const d = new Date();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
const toUtc = (s) => {
  const [y, m, d] = s.split('-').map(Number);
  return Date.UTC(y, m - 1, d);
};
const fromUtc = (ms) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
};
export const isDate = (s) => typeof s === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(toUtc(s));
export const addDays = (s, n) => fromUtc(toUtc(s) + n * 86400000);
export const nightsBetween = (a, b) => Math.round((toUtc(b) - toUtc(a)) / 86400000);

/** Set of the nights (YYYY-MM-DD) taken by `booked` [{start_date,end_date}]. */
export function bookedNights(booked = []) {
  const set = new Set();
  for (const b of booked) {
    if (!isDate(b.start_date) || !isDate(b.end_date)) continue;
    for (let d = b.start_date; d < b.end_date; d = addDays(d, 1)) set.add(d);
  }
  return set;
}

/* ---------- captcha uuid ---------- */

/** A random v4 UUID; crypto.randomUUID needs a secure context, so fall back. */
export function uuid4() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function' && globalThis.isSecureContext) {
    return crypto.randomUUID();
  }
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/* ---------- star ratings ---------- */

/** "4 stars" for a whole number of stars. */
export const starsText = (n) => t(Number(n) === 1 ? 'rating.star1' : 'rating.stars', { n });

/** The rating as a number, or null when there is none (null, missing, not a number). */
export function ratingValue(rating) {
  if (rating === null || rating === undefined || rating === '') return null;
  const r = Number(rating);
  return Number.isFinite(r) && r >= 0 && r <= 5 ? r : null;
}

/**
 * A house's average rating: stars, the average and the count, with one text
 * alternative ("4.5 / 5, 12 ratings"). Nothing when the house has no rating
 * (null) or the server sends none (older API).
 */
export function ratingHtml(rating, count, cls = '') {
  const r = ratingValue(rating);
  if (r === null) return '';
  const avg = r.toFixed(1);
  const n = Number(count);
  const hasCount = Number.isFinite(n) && n > 0;
  const label = hasCount ? t(n === 1 ? 'rating.summaryOne' : 'rating.summary', { r: avg, n }) : t('rating.value', { r: avg });
  return html`<span class="rating ${cls}"><span class="stars" style="--rating:${r}" aria-hidden="true"></span><span aria-hidden="true"><strong>${avg}</strong>${hasCount ? html` <span class="rating-count">(${n})</span>` : ''}</span><span class="visually-hidden">${label}</span></span>`;
}

/** The stars of one comment (1–5), or nothing for comments from before ratings. */
export function commentStars(rating) {
  const r = ratingValue(rating);
  if (r === null || r < 1) return '';
  return html`<span class="rating rating-comment"><span class="stars" style="--rating:${r}" aria-hidden="true"></span><span class="visually-hidden">${t('rating.comment', { r })}</span></span>`;
}

/* ---------- search filters: price range and guests ---------- */

const PRICE_RE = /^\d{1,7}(\.\d{1,2})?$/;

/**
 * The price and guest filters of a search form as strings ('' = not set). A
 * number input the browser could not read (badInput) comes back as 'NaN', so
 * the check below reports it instead of silently dropping the filter.
 */
export function readPriceGuests(form) {
  const val = (el) => (el.validity && el.validity.badInput ? 'NaN' : String(el.value).trim());
  return { min_price: val(form.min_price), max_price: val(form.max_price), guests: val(form.guests) };
}

/**
 * Why these filters can't be searched: {field, message}, or null. The server
 * checks them too (4103), and its message is shown when it disagrees.
 */
export function filterProblem({ min_price = '', max_price = '', guests = '' }) {
  const priceOk = (v) => v === '' || (PRICE_RE.test(v) && Number(v) <= 1000000);
  if (!priceOk(min_price)) return { field: 'min_price', message: t('v.minPrice') };
  if (!priceOk(max_price)) return { field: 'max_price', message: t('v.maxPrice') };
  if (min_price !== '' && max_price !== '' && Number(min_price) > Number(max_price)) return { field: 'max_price', message: t('v.priceOrder') };
  if (guests !== '' && !(/^\d{1,3}$/.test(guests) && Number(guests) >= 1 && Number(guests) <= 100)) return { field: 'guests', message: t('v.guests') };
  return null;
}

/** Filter values taken from a URL: kept only when they look like what the form would send. */
export function urlFilters(params) {
  const price = (k) => (PRICE_RE.test(params.get(k) || '') ? params.get(k) : '');
  return { min_price: price('min_price'), max_price: price('max_price'), guests: /^\d{1,3}$/.test(params.get('guests') || '') ? params.get('guests') : '' };
}

/* ---------- pieces ---------- */

/**
 * A house card; `extra` (e.g. "&sd=…&ed=…") is carried to the detail page,
 * `actions` (html) goes under the card's link.
 */
export function houseCard(h, extra = '', actions = '') {
  const unpublished = h.published === false; // only the landlord's own list carries `published`
  const rating = ratingHtml(h.rating, h.rating_count);
  return html`<li class="house-card${unpublished ? ' is-unpublished' : ''}" data-house="${h.house_id}">
    <a class="house-link" href="detail.html?id=${h.house_id}${typeof extra === 'string' ? extra : ''}">
      <div class="house-cover">
        <img src="${imgOr(h.img_url)}" alt="${h.img_url ? t('house.cover', { title: h.title }) : t('house.noCover')}" loading="lazy">
        <span class="house-price"><strong>${money(h.price)}</strong>${t('common.perNight')}</span>
        ${unpublished ? html`<span class="house-flag">${t('house.unpublished')}</span>` : ''}
        ${h.instant_book ? instantBadge('house-instant') : ''}
      </div>
      <div class="house-body">
        <img class="avatar avatar-sm" src="${imgOr(h.user_avatar, 'avatar')}" alt="" loading="lazy">
        <div>
          <h3 class="house-title">${h.title}</h3>
          ${rating ? html`<p class="house-rating">${rating}</p>` : ''}
          <p class="house-meta">${[h.area_name, t('house.rooms', { n: h.room_count }), t('house.orders', { n: h.order_count ?? 0 })].filter(Boolean).join(' · ')}</p>
          <p class="house-address">${h.address}</p>
        </div>
      </div>
    </a>${actions ? html`<div class="house-actions">${actions}</div>` : ''}</li>`;
}

export function statusBadge(status) {
  return html`<span class="badge badge-${String(status).toLowerCase().replace(/_/g, '-')}">${t('status.' + status)}</span>`;
}

/** Fills a <select> with the areas (first option kept). */
export function fillAreas(select, areas, selected) {
  for (const a of areas) {
    const o = document.createElement('option');
    o.value = a.aid;
    o.textContent = a.aname;
    if (String(a.aid) === String(selected)) o.selected = true;
    select.append(o);
  }
}

/**
 * A file picker that looks like the site's buttons: the native input is
 * visually hidden (still focusable, still labelled), the label is the button
 * and the chosen file names show beside it.
 */
export function filePicker({ id, name = id, label, multiple = false, accept = 'image/jpeg,image/png,image/webp' }) {
  return html`<div class="file-pick">
    <input type="file" id="${id}" name="${name}" accept="${accept}" ${multiple ? raw('multiple') : ''} class="file-input" aria-describedby="${id}-names">
    <label for="${id}" class="btn btn-ghost">${label}</label>
    <span class="file-names" id="${id}-names">${t('common.noFile')}</span>
  </div>`;
}

/** Keeps a filePicker's names in step with its input (call after render). */
export function wireFilePicker(input) {
  const names = document.getElementById(input.id + '-names');
  const show = () => {
    const files = [...input.files];
    names.textContent = files.length === 0 ? t('common.noFile')
      : files.length === 1 ? files[0].name : t('common.files', { n: files.length });
  };
  input.addEventListener('change', show);
  input.form?.addEventListener('reset', () => setTimeout(show, 0));
}

/** Checks a picked image before sending it (the server decides for real). */
export function imageLooksOk(file) {
  return file && /^image\/(jpeg|png|webp)$/.test(file.type) && file.size <= 10 * 1024 * 1024;
}

/* ---------- booked-dates calendar ---------- */

function shiftMonth({ y, m }, delta) {
  const k = y * 12 + (m - 1) + delta;
  return { y: Math.floor(k / 12), m: (k % 12) + 1 };
}

/**
 * A month calendar marking booked nights and the nights the landlord
 * blocked. Guests see blocked nights as unavailable, like booked ones;
 * with `showBlocked` (the owner) they look different. With `onPick`, days are
 * buttons. `pick: 'stay'` (booking): the first click picks the check-in day,
 * the second the check-out day. `pick: 'nights'` (blocking): the first click
 * picks the first night, the second the last night (the same day twice: one
 * night). Either way onPick gets {start, end} with `end` exclusive, like the
 * API's date ranges.
 */
export function createCalendar(container, { booked = [], blocked = [], showBlocked = false, months = 2, onPick = null, pick = 'stay' } = {}) {
  let bookedSet = bookedNights(booked);
  let blockedSet = bookedNights(blocked);
  let taken = new Set([...bookedSet, ...blockedSet]);
  const nightsMode = pick === 'nights';
  const today = todayStr();
  const [ty, tm] = today.split('-').map(Number);
  let first = { y: ty, m: tm }; // first month shown
  let range = { start: null, end: null };
  let focusDate = today; // the one day button in the tab order (roving tabindex)
  const weekdays = t('cal.weekdays').split(',');

  function monthHtml(y, m) {
    const firstDow = new Date(Date.UTC(y, m - 1, 1)).getUTCDay();
    const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
    const lastPicked = range.end ? (nightsMode ? addDays(range.end, -1) : range.end) : null;
    const cells = [];
    for (let i = 0; i < firstDow; i++) cells.push(html`<td></td>`);
    for (let d = 1; d <= days; d++) {
      const ds = `${y}-${pad(m)}-${pad(d)}`;
      const past = ds < today;
      const isBooked = bookedSet.has(ds);
      const isBlocked = !isBooked && blockedSet.has(ds);
      const inRange = range.start && range.end && ds >= range.start && ds < range.end;
      const isStart = ds === range.start;
      const isEnd = ds === lastPicked;
      const cls = ['cal-day', past && 'is-past', (isBooked || (isBlocked && !showBlocked)) && 'is-booked',
        isBlocked && (showBlocked ? 'is-blocked' : 'is-unavailable'), inRange && 'is-selected',
        isStart && 'is-start', isEnd && 'is-end', ds === today && 'is-today'].filter(Boolean).join(' ');
      const note = isBooked ? t('cal.booked') : isBlocked ? t(showBlocked ? 'cal.blocked' : 'cal.unavailable') : '';
      const label = t('date.md', { m, d }) + (note ? ' ' + note : '');
      const inner = onPick && !past
        ? html`<button type="button" class="${cls}" data-date="${ds}" tabindex="${ds === focusDate ? '0' : '-1'}" aria-label="${label}" aria-pressed="${isStart || isEnd || inRange ? 'true' : 'false'}">${d}</button>`
        : html`<span class="${cls}">${d}${note ? html`<span class="visually-hidden"> ${note}</span>` : ''}</span>`;
      cells.push(html`<td>${inner}</td>`);
    }
    while (cells.length % 7) cells.push(html`<td></td>`);
    const rows = [];
    for (let i = 0; i < cells.length; i += 7) rows.push(html`<tr>${cells.slice(i, i + 7)}</tr>`);
    return html`<table class="cal-month">
      <caption>${t('cal.month', { y, m })}</caption>
      <thead><tr>${weekdays.map((w) => html`<th scope="col">${w}</th>`)}</tr></thead>
      <tbody>${rows}</tbody></table>`;
  }

  function legendHtml() {
    if (showBlocked) {
      return html`<li><span class="swatch swatch-booked"></span>${t('cal.legendBooked')}</li>
        <li><span class="swatch swatch-blocked"></span>${t('cal.legendBlocked')}</li>`;
    }
    return html`<li><span class="swatch swatch-booked"></span>${t(blockedSet.size ? 'cal.legendUnavailable' : 'cal.legendBooked')}</li>`;
  }

  function draw() {
    const list = [];
    let { y, m } = first;
    for (let i = 0; i < months; i++) {
      list.push(monthHtml(y, m));
      m += 1;
      if (m > 12) { m = 1; y += 1; }
    }
    const atStart = first.y === ty && first.m === tm;
    const after = shiftMonth(first, months);
    const lastShown = `${after.y}-${pad(after.m)}-01`;
    const firstShown = `${first.y}-${pad(first.m)}-01`;
    if (focusDate < firstShown || focusDate >= lastShown || focusDate < today) focusDate = firstShown < today ? today : firstShown;
    const focused = document.activeElement && container.contains(document.activeElement) ? document.activeElement.dataset.date || document.activeElement.dataset.nav : null;
    render(container, html`<div class="cal">
      <div class="cal-nav">
        <button type="button" class="btn btn-ghost btn-small" data-nav="prev" ${atStart ? raw('disabled') : ''} aria-label="${t('cal.prev')}">‹</button>
        <button type="button" class="btn btn-ghost btn-small" data-nav="next" aria-label="${t('cal.next')}">›</button>
      </div>
      <div class="cal-months">${list}</div>
      <ul class="cal-legend">
        <li><span class="swatch swatch-free"></span>${t('cal.legendFree')}</li>
        ${legendHtml()}
        ${onPick ? html`<li><span class="swatch swatch-selected"></span>${t(nightsMode ? 'cal.legendPicked' : 'cal.legendSelected')}</li>` : ''}
      </ul>
      ${onPick ? html`<p class="hint">${t(nightsMode ? 'cal.pickNightsHint' : 'cal.pickHint')}</p>` : ''}
    </div>`);
    if (focused) {
      const again = container.querySelector(`[data-date="${focused}"], [data-nav="${focused}"]`);
      if (again && !again.disabled) again.focus();
    }
  }

  // Arrow keys move between days (a week with up/down), across months too.
  container.addEventListener('keydown', (e) => {
    const day = e.target.closest('[data-date]');
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 }[e.key];
    if (!day || !step) return;
    e.preventDefault();
    const next = addDays(day.dataset.date, step);
    if (next < today) return;
    focusDate = next;
    const [y, m] = next.split('-').map(Number);
    const idx = (y - first.y) * 12 + (m - first.m);
    if (idx < 0) first = { y, m };
    else if (idx >= months) first = shiftMonth({ y, m }, 1 - months);
    draw();
    container.querySelector(`[data-date="${next}"]`)?.focus();
  });

  container.addEventListener('click', (e) => {
    const nav = e.target.closest('[data-nav]');
    if (nav) {
      first = shiftMonth(first, nav.dataset.nav === 'next' ? 1 : -1);
      draw();
      return;
    }
    const day = e.target.closest('[data-date]');
    if (day && onPick) {
      const d = day.dataset.date;
      focusDate = d;
      if (nightsMode) {
        if (!range.start || range.end || d < range.start) range = { start: d, end: null };
        else range = { start: range.start, end: addDays(d, 1) };
      } else if (!range.start || range.end || d <= range.start) range = { start: d, end: null };
      else range = { start: range.start, end: d };
      draw();
      onPick({ ...range });
    }
  });

  draw();
  return {
    /** Shows [start, end) as picked (`end` exclusive in both modes). */
    setRange(start, end) {
      range = { start: isDate(start) ? start : null, end: isDate(end) ? end : null };
      if (range.start && range.start >= today) focusDate = range.start;
      if (range.start) {
        const [y, m] = range.start.split('-').map(Number);
        const idx = (y - first.y) * 12 + (m - first.m);
        if (idx < 0 || idx >= months) first = { y, m };
      }
      draw();
    },
    /** Replaces the booked nights (e.g. after the server reported a conflict). */
    setBooked(list) {
      bookedSet = bookedNights(list);
      taken = new Set([...bookedSet, ...blockedSet]);
      draw();
    },
    /** Replaces the blocked nights. */
    setBlocked(list) {
      blockedSet = bookedNights(list);
      taken = new Set([...bookedSet, ...blockedSet]);
      draw();
    },
    /** Every night that can't be booked: booked or blocked. */
    get taken() { return taken; },
    get booked() { return bookedSet; },
    get blocked() { return blockedSet; },
  };
}
