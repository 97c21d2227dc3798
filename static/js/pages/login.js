import { t } from '../i18n.js';
import { api, safeNext } from '../api.js';
import { initPage, $, showError, hideAlert, busy } from '../ui.js';

const params = new URLSearchParams(location.search);
const next = safeNext(params.get('next'));
if (params.get('next')) $('#to-register').href = 'register.html?next=' + encodeURIComponent(next);

const user = await initPage();
if (user) location.replace(next); // already logged in
if (params.get('next')) $('#login-note').hidden = false;

const form = $('#login-form');
const box = $('#form-alert');
form.addEventListener('input', (e) => e.target.removeAttribute('aria-invalid'));
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  hideAlert(box);
  const mobile = form.mobile.value.trim();
  const password = form.password.value;
  if (!/^1[3-9]\d{9}$/.test(mobile)) {
    form.mobile.setAttribute('aria-invalid', 'true');
    form.mobile.focus();
    return showError(box, t('v.mobile'));
  }
  if (!password) {
    form.password.setAttribute('aria-invalid', 'true');
    form.password.focus();
    return showError(box, t('v.password'));
  }
  try {
    await busy($('button[type=submit]', form), () =>
      api('/sessions', { method: 'POST', body: { mobile, password }, on4101: 'throw' }));
    location.assign(next);
  } catch (err) {
    showError(box, err);
  }
});
