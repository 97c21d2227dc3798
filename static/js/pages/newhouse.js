// newhouse.html: publish a house (the form, then its photos), or, with
// ?id=N, manage one of your houses (house-manage.js).
import { t } from '../i18n.js';
import { api, upload } from '../api.js';
import { initPage, html, render, $, loadingHtml, errorHtml, emptyHtml, showError, showOk, hideAlert, busy, fillAreas, imageLooksOk, filePicker, wireFilePicker } from '../ui.js';
import { houseFormHtml, readHouseForm, wireHouseForm } from '../house-form.js';
import { manageHouse } from '../house-manage.js';

await initPage({ requireLogin: true });
const body = $('#newhouse-body');
render(body, loadingHtml());

let areas;
try {
  const u = await api('/user/auth');
  if (!u.real_name) {
    render(body, emptyHtml(t('newhouse.needAuth'), html`<a class="btn" href="auth.html">${t('myhouse.toAuth')}</a>`));
    throw null;
  }
  areas = await api('/areas');
} catch (err) {
  if (err) render(body, errorHtml(err));
  throw err || new Error('not verified');
}

const existing = new URLSearchParams(location.search).get('id');
if (existing && /^\d+$/.test(existing)) {
  // newhouse.html?id=N: the landlord's page for that house (the server checks it is theirs).
  await manageHouse(body, existing, areas);
} else {
  publish();
}

function publish() {
  render(body, html`
${houseFormHtml({ submitLabel: t('newhouse.submit') })}
<section class="card" id="images-section" hidden aria-labelledby="images-title">
  <h2 id="images-title" tabindex="-1">${t('newhouse.imagesHeading')}</h2>
  <div class="alert alert-ok" role="status">${t('newhouse.imagesIntro')}</div>
  <ul class="thumbs" id="uploaded"></ul>
  <form id="images-form" novalidate>
    <div class="field">${filePicker({ id: 'house_image', label: t('newhouse.chooseImages'), multiple: true })}</div>
    <div class="progress-row" id="img-progress" hidden>
      <progress class="progress" max="100" value="0" aria-labelledby="img-progress-text"></progress>
      <span id="img-progress-text"></span>
    </div>
    <div class="alert" role="alert" id="images-alert" hidden></div>
    <div class="row">
      <button type="submit" class="btn">${t('newhouse.upload')}</button>
      <a class="btn btn-ghost" id="finish" href="#">${t('newhouse.finish')}</a>
    </div>
  </form>
</section>`);

  fillAreas($('#area_id'), areas || []);
  wireFilePicker($('#house_image'));

  const form = $('#house-form');
  const box = $('#house-alert');
  wireHouseForm(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const payload = readHouseForm(form, box);
    if (!payload) return;
    try {
      const data = await busy($('button[type=submit]', form), () => api('/houses', { method: 'POST', body: payload }));
      startImages(data.house_id);
    } catch (err) {
      showError(box, err);
    }
  });

  /* ---------- step 2: photos, one request per file, with progress ---------- */
  function startImages(houseId) {
    form.hidden = true;
    const section = $('#images-section');
    section.hidden = false;
    $('#finish').href = `detail.html?id=${houseId}`;
    $('#images-title').focus();
    section.scrollIntoView({ block: 'start' });
    const imgForm = $('#images-form');
    const imgBox = $('#images-alert');
    const row = $('#img-progress');
    const prog = $('progress', row);
    const text = $('#img-progress-text');
    const list = $('#uploaded');
    let count = 0;
    imgForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      hideAlert(imgBox);
      const files = [...imgForm.house_image.files];
      if (!files.length || !files.every(imageLooksOk)) return showError(imgBox, t('v.image'));
      const btn = $('button[type=submit]', imgForm);
      await busy(btn, async () => {
        row.hidden = false;
        for (const file of files) {
          const onProgress = (p) => { prog.value = p; text.textContent = t('newhouse.uploading', { name: file.name, p }); };
          onProgress(0);
          try {
            const data = await upload(`/houses/${houseId}/images`, 'house_image', file, { onProgress });
            count += 1;
            const li = document.createElement('li');
            render(li, html`<img src="${data.url}" alt="${file.name}">${count === 1 ? html`<span class="cover-tag">${t('newhouse.cover')}</span>` : ''}`);
            list.append(li);
            showOk(imgBox, t('newhouse.uploaded', { n: count }));
          } catch (err) {
            showError(imgBox, err);
            break;
          }
        }
        row.hidden = true;
        imgForm.reset();
      });
    });
  }
}
