import { t, FACILITY_IDS } from '../i18n.js';
import { api, upload } from '../api.js';
import { initPage, html, render, $, $$, loadingHtml, errorHtml, emptyHtml, showError, showOk, hideAlert, busy, fillAreas, imageLooksOk, filePicker, wireFilePicker } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#newhouse-body');
render(body, loadingHtml());

const field = (id, key, input, hint) => html`<div class="field">
  <label for="${id}">${t(key)}</label>${input}${hint ? html`<p class="hint">${hint}</p>` : ''}</div>`;

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

render(body, html`
<form id="house-form" novalidate>
  <section class="card">
    <h2>${t('newhouse.basic')}</h2>
    ${field('title', 'newhouse.title', html`<input type="text" id="title" name="title" maxlength="64" required>`)}
    <div class="grid-2">
      ${field('price', 'newhouse.price', html`<input type="number" id="price" name="price" min="1" max="1000000" step="0.01" inputmode="decimal" required>`)}
      ${field('deposit', 'newhouse.deposit', html`<input type="number" id="deposit" name="deposit" min="0" max="1000000" step="0.01" inputmode="decimal" required value="0">`)}
    </div>
    ${field('area_id', 'newhouse.area', html`<select id="area_id" name="area_id" required><option value="">${t('newhouse.chooseArea')}</option></select>`)}
    ${field('address', 'newhouse.address', html`<input type="text" id="address" name="address" maxlength="512" required>`)}
    <div class="grid-2">
      ${field('room_count', 'newhouse.roomCount', html`<input type="number" id="room_count" name="room_count" min="1" max="50" step="1" required value="1">`)}
      ${field('acreage', 'newhouse.acreage', html`<input type="number" id="acreage" name="acreage" min="1" max="10000" step="1" required>`)}
      ${field('unit', 'newhouse.unit', html`<input type="text" id="unit" name="unit" maxlength="32" required placeholder="${t('newhouse.unitPlaceholder')}">`)}
      ${field('capacity', 'newhouse.capacity', html`<input type="number" id="capacity" name="capacity" min="1" max="100" step="1" required value="2">`)}
    </div>
    ${field('beds', 'newhouse.beds', html`<input type="text" id="beds" name="beds" maxlength="64" required placeholder="${t('newhouse.bedsPlaceholder')}">`)}
    <div class="grid-2">
      ${field('min_days', 'newhouse.minDays', html`<input type="number" id="min_days" name="min_days" min="1" step="1" required value="1">`)}
      ${field('max_days', 'newhouse.maxDays', html`<input type="number" id="max_days" name="max_days" min="0" step="1" required value="0">`)}
    </div>
  </section>
  <fieldset class="card">
    <legend>${t('newhouse.facilities')}</legend>
    <div class="checks">
      ${FACILITY_IDS.map((id) => html`<label class="check"><input type="checkbox" name="facility" value="${id}"> ${t('facility.' + id)}</label>`)}
    </div>
  </fieldset>
  <div class="alert" role="alert" id="house-alert" hidden></div>
  <button type="submit" class="btn btn-block">${t('newhouse.submit')}</button>
</form>
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
form.addEventListener('input', (e) => e.target.removeAttribute('aria-invalid'));
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  hideAlert(box);
  for (const el of form.querySelectorAll('[required]')) {
    if (!String(el.value).trim()) {
      el.setAttribute('aria-invalid', 'true');
      el.focus();
      return showError(box, t('v.required', { field: $(`label[for="${el.id}"]`).textContent }));
    }
  }
  const v = (name) => form[name].value.trim();
  const int = (name) => Number.parseInt(v(name), 10);
  const payload = {
    title: v('title'),
    price: v('price'), // yuan, as a decimal string (exact)
    area_id: int('area_id'),
    address: v('address'),
    room_count: int('room_count'),
    acreage: int('acreage'),
    unit: v('unit'),
    capacity: int('capacity'),
    beds: v('beds'),
    deposit: v('deposit'),
    min_days: int('min_days'),
    max_days: int('max_days'),
    facility: $$('input[name=facility]:checked', form).map((c) => Number(c.value)),
  };
  try {
    const data = await busy($('button[type=submit]', form), () => api('/houses', { method: 'POST', body: payload }));
    startImages(data.house_id);
  } catch (err) {
    showError(box, err);
  }
});

/* ---------- step 2: photos, one request per file, with progress ---------- */
function startImages(houseId, house = null) {
  form.hidden = true;
  const section = $('#images-section');
  section.hidden = false;
  if (house) {
    $('#images-title').textContent = t('newhouse.imagesHeadingFor', { title: house.title });
    $('.alert-ok', section).textContent = t('newhouse.imagesMore');
    render($('#uploaded'), (house.img_urls || []).map((u, i) => html`<li><img src="${u}" alt="">${i === 0 ? html`<span class="cover-tag">${t('newhouse.cover')}</span>` : ''}</li>`));
  }
  $('#finish').href = `detail.html?id=${houseId}`;
  $('#images-title').focus();
  section.scrollIntoView({ block: 'start' });
  const imgForm = $('#images-form');
  const imgBox = $('#images-alert');
  const row = $('#img-progress');
  const prog = $('progress', row);
  const text = $('#img-progress-text');
  const list = $('#uploaded');
  let count = house ? (house.img_urls || []).length : 0;
  let added = 0;
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
          added += 1;
          const li = document.createElement('li');
          render(li, html`<img src="${data.url}" alt="${file.name}">${count === 1 ? html`<span class="cover-tag">${t('newhouse.cover')}</span>` : ''}`);
          list.append(li);
          showOk(imgBox, t('newhouse.uploaded', { n: added }));
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

// newhouse.html?id=N: straight to the photos of an existing house (the server checks it is yours).
const existing = new URLSearchParams(location.search).get('id');
if (existing && /^\d+$/.test(existing)) {
  try {
    const { house, user_id: viewer } = await api(`/houses/${existing}`);
    if (Number(viewer) === Number(house.user_id)) startImages(house.hid, house);
    else render(body, emptyHtml(t('newhouse.notOwner'), html`<a class="btn" href="myhouse.html">${t('my.myhouse')}</a>`));
  } catch (err) {
    render(body, errorHtml(err));
  }
}
