import { t } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, $, loadingHtml, errorHtml, showError, hideAlert, busy, toast } from '../ui.js';

/** 18-character PRC resident id with its ISO 7064 MOD 11-2 check digit. */
export function idCardOk(id) {
  if (!/^\d{17}[\dX]$/.test(id)) return false;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = w.reduce((s, wi, i) => s + wi * Number(id[i]), 0);
  if ('10X98765432'[sum % 11] !== id[17]) return false;
  const y = Number(id.slice(6, 10)), m = Number(id.slice(10, 12)), d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d && y >= 1900 && date <= new Date();
}

await initPage({ requireLogin: true });
const body = $('#auth-body');
render(body, loadingHtml());

function showLocked(u) {
  render(body, html`
    <div class="alert alert-ok" role="status">${t('auth.locked')}</div>
    <div class="field"><label for="real_name">${t('auth.realName')}</label>
      <input type="text" id="real_name" value="${u.real_name}" readonly aria-readonly="true"></div>
    <div class="field"><label for="id_card">${t('auth.idCard')}</label>
      <input type="text" id="id_card" value="${u.id_card}" readonly aria-readonly="true"></div>
    <a class="btn btn-block" href="myhouse.html">${t('my.myhouse')}</a>`);
}

function showForm() {
  render(body, html`
    <p class="muted">${t('auth.intro')}</p>
    <form id="auth-form" novalidate>
      <div class="field"><label for="real_name">${t('auth.realName')}</label>
        <input type="text" id="real_name" name="real_name" maxlength="32" required autocomplete="name"></div>
      <div class="field"><label for="id_card">${t('auth.idCard')}</label>
        <input type="text" id="id_card" name="id_card" maxlength="18" required autocomplete="off" placeholder="${t('auth.idCardPlaceholder')}"></div>
      <div class="alert" role="alert" id="auth-alert" hidden></div>
      <button type="submit" class="btn btn-block">${t('auth.submit')}</button>
    </form>`);
  const form = $('#auth-form');
  const box = $('#auth-alert');
  form.addEventListener('input', (e) => e.target.removeAttribute('aria-invalid'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    hideAlert(box);
    const real_name = form.real_name.value.trim();
    const id_card = form.id_card.value.trim().toUpperCase();
    const bad = (input, msg) => { input.setAttribute('aria-invalid', 'true'); input.focus(); showError(box, msg); };
    const n = [...real_name].length;
    if (n < 2 || n > 32) return bad(form.real_name, t('v.realName'));
    if (!idCardOk(id_card)) return bad(form.id_card, t('v.idCard'));
    try {
      await busy($('button[type=submit]', form), () => api('/user/auth', { method: 'POST', body: { real_name, id_card } }));
      toast(t('auth.done'));
      showLocked(await api('/user/auth'));
    } catch (err) {
      showError(box, err);
    }
  });
}

try {
  const u = await api('/user/auth');
  if (u.real_name) showLocked(u); else showForm();
} catch (err) {
  render(body, errorHtml(err));
}
