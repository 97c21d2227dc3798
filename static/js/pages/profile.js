import { t } from '../i18n.js';
import { api, upload, getSession } from '../api.js';
import { initPage, html, render, $, imgOr, loadingHtml, errorHtml, showError, showOk, hideAlert, busy, imageLooksOk, filePicker, wireFilePicker } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#profile-body');
render(body, loadingHtml());

let u;
try {
  u = await api('/user');
} catch (err) {
  render(body, errorHtml(err));
  throw err;
}

render(body, html`
  <section class="card" aria-labelledby="avatar-title">
    <h2 id="avatar-title">${t('profile.avatar')}</h2>
    <form id="avatar-form" novalidate>
      <div class="avatar-edit">
        <img class="avatar avatar-lg" id="avatar-img" src="${imgOr(u.avatar_url, 'avatar')}" alt="${t('profile.avatar')}" width="96" height="96">
        ${filePicker({ id: 'avatar', label: t('profile.chooseAvatar') })}
      </div>
      <div class="progress-row" id="avatar-progress" hidden>
        <progress class="progress" max="100" value="0" aria-labelledby="avatar-progress-text"></progress>
        <span id="avatar-progress-text"></span>
      </div>
      <div class="alert" role="alert" id="avatar-alert" hidden></div>
      <button type="submit" class="btn">${t('profile.uploadAvatar')}</button>
    </form>
  </section>
  <section class="card" aria-labelledby="name-title">
    <h2 id="name-title">${t('profile.nameSection')}</h2>
    <form id="name-form" novalidate>
      <div class="field">
        <label for="name">${t('profile.name')}</label>
        <input type="text" id="name" name="name" maxlength="32" required value="${u.name}" autocomplete="nickname">
      </div>
      <div class="alert" role="alert" id="name-alert" hidden></div>
      <button type="submit" class="btn">${t('profile.saveName')}</button>
    </form>
  </section>`);

/* ---------- avatar upload with progress ---------- */
const avatarForm = $('#avatar-form');
wireFilePicker(avatarForm.avatar);
const avatarBox = $('#avatar-alert');
const progRow = $('#avatar-progress');
const prog = $('progress', progRow);
const progText = $('#avatar-progress-text');
let savedAvatar = imgOr(u.avatar_url, 'avatar');
avatarForm.avatar.addEventListener('change', () => {
  hideAlert(avatarBox);
  const f = avatarForm.avatar.files[0];
  if (f && imageLooksOk(f)) $('#avatar-img').src = URL.createObjectURL(f); // preview
});
avatarForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  hideAlert(avatarBox);
  const file = avatarForm.avatar.files[0];
  if (!file || !imageLooksOk(file)) return showError(avatarBox, t('v.image'));
  progRow.hidden = false;
  const onProgress = (p) => {
    prog.value = p;
    progText.textContent = t('profile.uploading', { p });
  };
  onProgress(0);
  try {
    const data = await busy($('button[type=submit]', avatarForm), () => upload('/user/avatar', 'avatar', file, { onProgress }));
    onProgress(100);
    if (data && data.avatar_url) savedAvatar = data.avatar_url;
    $('#avatar-img').src = savedAvatar;
    showOk(avatarBox, t('profile.avatarDone'));
    avatarForm.reset();
  } catch (err) {
    $('#avatar-img').src = savedAvatar;
    showError(avatarBox, err);
  } finally {
    setTimeout(() => { progRow.hidden = true; }, 800);
  }
});

/* ---------- rename ---------- */
const nameForm = $('#name-form');
const nameBox = $('#name-alert');
nameForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  hideAlert(nameBox);
  const name = nameForm.name.value.trim();
  if (name.length < 1 || [...name].length > 32) return showError(nameBox, t('v.name'));
  try {
    const data = await busy($('button[type=submit]', nameForm), () => api('/user/name', { method: 'PUT', body: { name } }));
    showOk(nameBox, t('profile.nameDone'));
    nameForm.name.value = (data && data.name) || name;
    await getSession({ fresh: true });
    await initPage(); // header shows the new name
  } catch (err) {
    showError(nameBox, err);
  }
});
