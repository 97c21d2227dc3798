import { t } from '../i18n.js';
import { api, getSession, safeNext, ApiError, API_BASE } from '../api.js';
import { initPage, $, uuid4, showError, hideAlert, busy } from '../ui.js';

const MOBILE_RE = /^1[3-9]\d{9}$/;
const next = safeNext(new URLSearchParams(location.search).get('next'));
$('#to-login').href = 'login.html' + (next !== 'index.html' ? '?next=' + encodeURIComponent(next) : '');

await initPage();

const form = $('#register-form');
const box = $('#form-alert');
const smsBtn = $('#sms-btn');
const smsHint = $('#sms-hint');

/* ---------- captcha: a new client-made uuid for every image ---------- */
// Fetched here rather than by <img src>, so that a refusal (too many
// captchas: 429, or the store down) shows the server's errmsg instead of a
// broken image. The image's uuid is kept on it as data-uuid.
let captchaId = '';
let captchaObjectUrl = '';
async function refreshCaptcha() {
  const id = uuid4();
  captchaId = id;
  form.captcha.value = '';
  const img = $('#captcha-img');
  let res;
  try {
    res = await fetch(`${API_BASE}/imagecode/${id}`, { credentials: 'same-origin' });
  } catch {
    showError(box, t('err.network'));
    return;
  }
  if (id !== captchaId) return; // a newer click won
  if (!res.ok) {
    let msg = t('err.unknown');
    try {
      msg = (await res.json()).errmsg || msg;
    } catch { /* not the JSON envelope */ }
    img.removeAttribute('src');
    img.removeAttribute('data-uuid');
    showError(box, new ApiError(String(res.status), msg, res.status));
    return;
  }
  const blob = await res.blob();
  if (id !== captchaId) return;
  if (captchaObjectUrl) URL.revokeObjectURL(captchaObjectUrl);
  captchaObjectUrl = URL.createObjectURL(blob);
  img.src = captchaObjectUrl;
  img.dataset.uuid = id;
}
$('#captcha-btn').addEventListener('click', () => { hideAlert(box); refreshCaptcha(); form.captcha.focus(); });
refreshCaptcha();

function invalid(input, msg) {
  input.setAttribute('aria-invalid', 'true');
  input.focus();
  showError(box, msg);
  return false;
}
form.addEventListener('input', (e) => e.target.removeAttribute('aria-invalid'));

/* ---------- SMS code with a 60 s countdown ---------- */
let timer = null;
function countdown(seconds) {
  clearInterval(timer);
  let left = seconds;
  smsBtn.disabled = true;
  const tick = () => {
    if (left <= 0) {
      clearInterval(timer);
      smsBtn.disabled = false;
      smsBtn.textContent = t('form.getSms');
      return;
    }
    smsBtn.textContent = t('form.smsCountdown', { n: left });
    left -= 1;
  };
  tick();
  timer = setInterval(tick, 1000);
}

smsBtn.addEventListener('click', async () => {
  hideAlert(box);
  smsHint.textContent = '';
  const mobile = form.mobile.value.trim();
  const text = form.captcha.value.trim();
  if (!MOBILE_RE.test(mobile)) return invalid(form.mobile, t('v.mobile'));
  if (!text) return invalid(form.captcha, t('v.captcha'));
  smsBtn.disabled = true;
  try {
    await api(`/smscode/${encodeURIComponent(mobile)}`, { query: { text, id: captchaId } });
    smsHint.textContent = t('form.smsSent');
    countdown(60);
    form.sms_code.focus();
  } catch (err) {
    smsBtn.disabled = false;
    showError(box, err);
  } finally {
    // The captcha is single-use: the server deleted it, right or wrong.
    refreshCaptcha();
  }
});

/* ---------- register ---------- */
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  hideAlert(box);
  const mobile = form.mobile.value.trim();
  const sms = form.sms_code.value.trim();
  const pw = form.password.value;
  if (!MOBILE_RE.test(mobile)) return invalid(form.mobile, t('v.mobile'));
  if (!/^\d{6}$/.test(sms)) return invalid(form.sms_code, t('v.sms'));
  if (pw.length < 8 || pw.length > 64) return invalid(form.password, t('v.password'));
  if (form.password2.value !== pw) return invalid(form.password2, t('v.password2'));
  try {
    await busy($('button[type=submit]', form), () =>
      api('/users', { method: 'POST', body: { mobile, password: pw, sms_code: sms } }));
    await getSession({ fresh: true });
    location.assign(next);
  } catch (err) {
    showError(box, err);
  }
});
