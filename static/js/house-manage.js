// The landlord's page for one house (newhouse.html?id=N): publish state,
// photos (upload, delete, reorder; the first is the cover), the nights the
// landlord blocks on the calendar, and the listing's details (PUT
// /houses/:id). Written against API v1.1 ("Additions (v1.1)"); against a
// server without it (no `published`/`images`/`blocked` in the detail) only
// the photo upload is offered, as before.
import { t } from './i18n.js';
import { api, upload } from './api.js';
import {
  html, render, raw, $, loadingHtml, errorHtml, emptyHtml, showError, showOk, hideAlert, busy, fillAreas,
  imageLooksOk, filePicker, wireFilePicker, confirmDialog, toast, createCalendar, todayStr, addDays, isDate,
  nightsBetween, dateText, bookedNights, ratingHtml,
} from './ui.js';
import { houseFormHtml, readHouseForm, fillHouseForm, wireHouseForm } from './house-form.js';

/** Consecutive nights of `list` [{start_date,end_date}] merged: [{start, end}] with `end` exclusive. */
function mergedRanges(list) {
  const nights = [...bookedNights(list)].sort();
  const out = [];
  for (const d of nights) {
    const last = out[out.length - 1];
    if (last && last.end === d) last.end = addDays(d, 1);
    else out.push({ start: d, end: addDays(d, 1) });
  }
  return out;
}

/** "12/3 – 12/5 (3 nights)": first and last night of [start, end). */
function rangeText({ start, end }) {
  const n = nightsBetween(start, end);
  return n === 1
    ? t('manage.rangeOne', { s: dateText(start) })
    : t('manage.range', { s: dateText(start), e: dateText(addDays(end, -1)), n });
}

/** The area id of the house: HouseDetail has none in v1.0, so its name is looked up. */
async function areaIdOf(h, areas) {
  if (h.area_id) return String(h.area_id);
  let name = h.area_name;
  if (!name) {
    try {
      const mine = await api('/user/houses');
      name = ((mine && mine.houses) || []).find((x) => Number(x.house_id) === Number(h.hid))?.area_name;
    } catch { /* the landlord picks it again */ }
  }
  const a = (areas || []).find((x) => x.aname === name);
  return a ? String(a.aid) : '';
}

export async function manageHouse(body, houseId, areas) {
  const back = html`<a class="btn" href="myhouse.html">${t('my.myhouse')}</a>`;
  let h;
  try {
    const data = await api(`/houses/${houseId}`);
    if (Number(data.user_id) !== Number(data.house.user_id)) {
      render(body, emptyHtml(t('newhouse.notOwner'), back));
      return;
    }
    h = data.house;
  } catch (err) {
    render(body, err.errno === '4002' ? emptyHtml(t('detail.notFound'), back) : errorHtml(err));
    return;
  }

  const hasStatus = typeof h.published === 'boolean';
  const hasImages = Array.isArray(h.images);
  const hasBlocked = Array.isArray(h.blocked);
  const v11 = hasStatus || hasImages || hasBlocked;

  document.title = t('title.manage');
  const heading = $('h1');
  const setHeading = () => { heading.textContent = t('manage.heading', { title: h.title }); };
  setHeading();

  render(body, html`
    <section class="card manage-status" id="status-card" aria-label="${t('manage.status')}"></section>
    ${v11 ? html`<nav class="manage-nav" aria-label="${t('manage.sections')}"><ul>
      <li><a href="#photos">${t('manage.photos')}</a></li>
      ${hasBlocked ? html`<li><a href="#calendar-section">${t('manage.calendar')}</a></li>` : ''}
      <li><a href="#edit">${t('manage.edit')}</a></li>
    </ul></nav>` : ''}
    <section class="card" id="photos" aria-labelledby="photos-title">
      <h2 id="photos-title" tabindex="-1">${t('manage.photos')}</h2>
      <p class="hint" id="photos-hint">${t(hasImages ? 'manage.photosHint' : 'newhouse.imagesMore')}</p>
      <ol class="${hasImages ? 'photo-list' : 'thumbs'}" id="uploaded"></ol>
      ${hasImages ? html`<div class="row photo-save" id="order-row">
        <button type="button" class="btn" id="save-order" disabled>${t('manage.saveOrder')}</button>
        <button type="button" class="btn btn-ghost" id="reset-order" disabled>${t('manage.resetOrder')}</button>
      </div>` : ''}
      <div class="visually-hidden" aria-live="polite" id="photo-live"></div>
      <div class="alert" role="alert" id="photos-alert" hidden></div>
      <form id="images-form" class="upload-form" novalidate>
        <div class="field">${filePicker({ id: 'house_image', label: t('newhouse.chooseImages'), multiple: true })}</div>
        <div class="progress-row" id="img-progress" hidden>
          <progress class="progress" max="100" value="0" aria-labelledby="img-progress-text"></progress>
          <span id="img-progress-text"></span>
        </div>
        <div class="alert" role="alert" id="images-alert" hidden></div>
        <button type="submit" class="btn btn-ghost">${t('newhouse.upload')}</button>
      </form>
    </section>
    ${hasBlocked ? html`<section class="card" id="calendar-section" aria-labelledby="calendar-title">
      <h2 id="calendar-title">${t('manage.calendar')}</h2>
      <p class="hint">${t('manage.calendarHint')}</p>
      <div id="block-calendar" class="block-calendar"></div>
      <form id="block-form" novalidate>
        <div class="grid-2 grid-dates">
          <div class="field"><label for="block_start">${t('manage.firstNight')}</label>
            <input type="date" id="block_start" name="block_start" min="${todayStr()}"></div>
          <div class="field"><label for="block_last">${t('manage.lastNight')}</label>
            <input type="date" id="block_last" name="block_last" min="${todayStr()}"></div>
        </div>
        <p class="muted" id="block-summary" aria-live="polite"></p>
        <div class="alert" role="alert" id="block-alert" hidden></div>
        <div class="row">
          <button type="submit" class="btn" value="block">${t('manage.block')}</button>
          <button type="submit" class="btn btn-ghost" value="unblock">${t('manage.unblock')}</button>
        </div>
      </form>
      <h3 class="blocked-title">${t('manage.blockedList')}</h3>
      <ul class="blocked-list" id="blocked-list"></ul>
    </section>` : ''}
    ${v11 ? html`<section id="edit" aria-labelledby="edit-title">
      <h2 id="edit-title" class="section-heading">${t('manage.edit')}</h2>
      ${houseFormHtml({ submitLabel: t('manage.saveEdit') })}
    </section>` : ''}`);

  /** The house as the server has it now (after a change). */
  async function refresh() {
    const data = await api(`/houses/${houseId}`);
    h = data.house;
    return h;
  }

  /* ---------- publish state ---------- */
  const statusCard = $('#status-card');
  function drawStatus() {
    const pub = h.published;
    render(statusCard, html`
      <div class="manage-status-line">
        ${hasStatus ? html`<span>${t('manage.state')}</span>
          <span class="badge ${pub ? 'badge-published' : 'badge-unpublished'}" id="pub-state">${t(pub ? 'manage.published' : 'manage.unpublished')}</span>` : ''}
        ${ratingHtml(h.rating, h.rating_count)}
      </div>
      ${hasStatus ? html`<p class="hint">${t(pub ? 'manage.publishedHint' : 'manage.unpublishedHint')}</p>` : ''}
      <div class="row">
        ${hasStatus ? html`<button type="button" class="btn ${pub ? 'btn-danger' : 'btn-ok'}" id="toggle-pub">${t(pub ? 'manage.unpublish' : 'manage.republish')}</button>` : ''}
        <a class="btn btn-ghost" href="detail.html?id=${h.hid}">${t('manage.view')}</a>
      </div>`);
  }
  drawStatus();
  statusCard.addEventListener('click', async (e) => {
    const btn = e.target.closest('#toggle-pub');
    if (!btn) return;
    const next = !h.published;
    if (!next && !(await confirmDialog(t('manage.unpublishConfirm'), t('manage.unpublish')))) return;
    try {
      await busy(btn, () => api(`/houses/${houseId}/status`, { method: 'PUT', body: { published: next } }));
      h.published = next;
      try { await refresh(); } catch { /* the change itself went through */ }
      drawStatus();
      toast(t(next ? 'manage.republished' : 'manage.unpublishedDone'));
      $('#toggle-pub')?.focus();
    } catch (err) {
      if (!err.redirecting) toast(err.message, 'error');
    }
  });

  /* ---------- photos ---------- */
  const list = $('#uploaded');
  const live = $('#photo-live');
  const photosBox = $('#photos-alert');
  let byId = new Map();   // image id (as text) -> {image_id, url}
  let saved = [];         // the order the server has
  let order = [];         // the order on screen
  const dirty = () => order.join() !== saved.join();

  function takeImages(images) {
    byId = new Map(images.map((im) => [String(im.image_id), im]));
    const serverOrder = images.map((im) => String(im.image_id));
    // Keep an unsaved order across uploads and deletions; new photos go last.
    order = order.filter((id) => byId.has(id));
    for (const id of serverOrder) if (!order.includes(id)) order.push(id);
    if (!order.length || !saved.length) order = [...serverOrder];
    saved = serverOrder;
  }

  function drawPhotos() {
    if (!hasImages) {
      render(list, (h.img_urls || []).map((u, i) => html`<li><img src="${u}" alt="${t('manage.photoAlt', { n: i + 1 })}">${i === 0 ? html`<span class="cover-tag">${t('newhouse.cover')}</span>` : ''}</li>`));
      return;
    }
    const n = order.length;
    render(list, n ? order.map((id, i) => html`<li class="photo-item" data-id="${id}">
      <div class="photo-thumb"><img src="${byId.get(id).url}" alt="${t('manage.photoAlt', { n: i + 1 })}">
        ${i === 0 ? html`<span class="cover-tag">${t('newhouse.cover')}</span>` : ''}</div>
      <div class="photo-actions">
        <span class="photo-pos">${t(i === 0 ? 'manage.posCover' : 'manage.pos', { n: i + 1, total: n })}</span>
        <button type="button" class="btn btn-ghost btn-small" data-act="up" aria-label="${t('manage.moveUpN', { n: i + 1 })}" ${i === 0 ? raw('disabled') : ''}><span aria-hidden="true">↑</span> ${t('manage.moveUp')}</button>
        <button type="button" class="btn btn-ghost btn-small" data-act="down" aria-label="${t('manage.moveDownN', { n: i + 1 })}" ${i === n - 1 ? raw('disabled') : ''}><span aria-hidden="true">↓</span> ${t('manage.moveDown')}</button>
        <button type="button" class="btn btn-danger btn-small" data-act="delete" aria-label="${t('manage.deleteN', { n: i + 1 })}">${t('manage.delete')}</button>
      </div></li>`) : html`<li class="photo-empty muted">${t('manage.noPhotos')}</li>`);
    $('#save-order').disabled = !dirty();
    $('#reset-order').disabled = !dirty();
  }

  if (hasImages) takeImages(h.images);
  drawPhotos();

  /** Focus the `act` button of the photo `id` (or its other move button when that one is disabled). */
  function focusPhoto(id, act) {
    const li = list.querySelector(`[data-id="${CSS.escape(id)}"]`);
    if (!li) return $('#photos-title').focus();
    const want = li.querySelector(`[data-act="${act}"]`);
    const other = li.querySelector(`[data-act="${act === 'up' ? 'down' : 'up'}"]`);
    (want && !want.disabled ? want : other && !other.disabled ? other : li.querySelector('[data-act="delete"]')).focus();
  }

  list.addEventListener('click', async (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const id = btn.closest('[data-id]').dataset.id;
    const i = order.indexOf(id);
    const act = btn.dataset.act;
    hideAlert(photosBox);
    if (act === 'up' || act === 'down') {
      const j = act === 'up' ? i - 1 : i + 1;
      if (j < 0 || j >= order.length) return;
      [order[i], order[j]] = [order[j], order[i]];
      drawPhotos();
      live.textContent = t(j === 0 ? 'manage.movedCover' : 'manage.moved', { from: i + 1, to: j + 1 });
      focusPhoto(id, act);
      return;
    }
    if (act === 'delete') {
      if (!(await confirmDialog(t('manage.deleteConfirm', { n: i + 1 }), t('manage.delete')))) return focusPhoto(id, 'delete');
      try {
        await busy(btn, () => api(`/houses/${houseId}/images/${encodeURIComponent(byId.get(id).image_id)}`, { method: 'DELETE' }));
        order = order.filter((x) => x !== id);
        saved = saved.filter((x) => x !== id);
        byId.delete(id);
        try {
          await refresh();
          if (Array.isArray(h.images)) takeImages(h.images);
        } catch { /* shown as we have it */ }
        drawPhotos();
        toast(t('manage.deleted'));
        const next = order[Math.min(i, order.length - 1)];
        if (next) focusPhoto(next, 'delete'); else $('#photos-title').focus();
      } catch (err) {
        showError(photosBox, err);
      }
    }
  });

  $('#save-order')?.addEventListener('click', async (e) => {
    hideAlert(photosBox);
    const image_ids = order.map((id) => byId.get(id).image_id);
    try {
      await busy(e.currentTarget, () => api(`/houses/${houseId}/images/order`, { method: 'PUT', body: { image_ids } }));
      saved = [...order];
      drawPhotos();
      showOk(photosBox, t('manage.orderSaved'));
      $('#photos-title').focus();
    } catch (err) {
      showError(photosBox, err);
      drawPhotos();
    }
  });
  $('#reset-order')?.addEventListener('click', () => {
    order = [...saved];
    drawPhotos();
    live.textContent = t('manage.orderReset');
    $('#photos-title').focus();
  });

  // Upload: one request per file, with progress; then the server's list (with the new ids).
  wireFilePicker($('#house_image'));
  const imgForm = $('#images-form');
  imgForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const imgBox = $('#images-alert');
    hideAlert(imgBox);
    const files = [...imgForm.house_image.files];
    if (!files.length || !files.every(imageLooksOk)) return showError(imgBox, t('v.image'));
    const row = $('#img-progress');
    const prog = $('progress', row);
    const text = $('#img-progress-text');
    let added = 0;
    await busy($('button[type=submit]', imgForm), async () => {
      row.hidden = false;
      for (const file of files) {
        const onProgress = (p) => { prog.value = p; text.textContent = t('newhouse.uploading', { name: file.name, p }); };
        onProgress(0);
        try {
          await upload(`/houses/${houseId}/images`, 'house_image', file, { onProgress });
          added += 1;
        } catch (err) {
          showError(imgBox, err);
          break;
        }
      }
      row.hidden = true;
      imgForm.reset();
    });
    if (!added) return;
    try {
      await refresh();
      if (Array.isArray(h.images)) takeImages(h.images);
    } catch (err) {
      showError(imgBox, err);
    }
    drawPhotos();
    if (imgBox.hidden) showOk(imgBox, t('newhouse.uploaded', { n: added }));
  });

  /* ---------- blocked nights ---------- */
  if (hasBlocked) {
    const form = $('#block-form');
    const box = $('#block-alert');
    const summary = $('#block-summary');
    const cal = createCalendar($('#block-calendar'), {
      booked: h.booked || [], blocked: h.blocked, showBlocked: true, pick: 'nights',
      onPick: ({ start, end }) => {
        form.block_start.value = start || '';
        form.block_last.value = end ? addDays(end, -1) : start || '';
        update();
      },
    });
    const picked = () => {
      const s = form.block_start.value;
      const l = form.block_last.value || s;
      return isDate(s) && isDate(l) && l >= s ? { start: s, end: addDays(l, 1) } : null;
    };
    function update({ fromInputs = false } = {}) {
      hideAlert(box);
      const r = picked();
      if (isDate(form.block_start.value)) form.block_last.min = form.block_start.value;
      if (fromInputs) cal.setRange(r ? r.start : form.block_start.value, r ? r.end : null);
      summary.textContent = r ? t('manage.picked', { v: rangeText(r) }) : '';
    }
    for (const el of [form.block_start, form.block_last]) {
      el.addEventListener('change', () => update({ fromInputs: true }));
      el.addEventListener('input', () => update({ fromInputs: true }));
    }
    function drawBlocked() {
      const ranges = mergedRanges(h.blocked || []).filter((r) => r.end > todayStr());
      render($('#blocked-list'), ranges.length
        ? ranges.map((r) => html`<li data-start="${r.start}" data-end="${r.end}"><span>${rangeText(r)}</span>
            <button type="button" class="btn btn-ghost btn-small" data-unblock aria-label="${t('manage.unblockRange', { v: rangeText(r) })}">${t('manage.unblock')}</button></li>`)
        : html`<li class="muted">${t('manage.noneBlocked')}</li>`);
    }
    drawBlocked();

    async function change(action, r, btn) {
      hideAlert(box);
      const body = { start_date: r.start, end_date: r.end };
      try {
        await busy(btn, () => api(`/houses/${houseId}/blocked`, { method: action === 'block' ? 'POST' : 'DELETE', body }));
        toast(t(action === 'block' ? 'manage.blocked' : 'manage.unblocked', { v: rangeText(r) }));
        form.reset();
        summary.textContent = '';
        cal.setRange(null, null);
      } catch (err) {
        showError(box, err);
      }
      try {
        await refresh();
        cal.setBlocked(h.blocked || []);
        cal.setBooked(h.booked || []);
        drawBlocked();
      } catch { /* the calendar keeps what it showed */ }
    }

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const action = e.submitter && e.submitter.value === 'unblock' ? 'unblock' : 'block';
      hideAlert(box);
      const s = form.block_start.value;
      const l = form.block_last.value || s;
      if (!isDate(s)) return showError(box, t('manage.pickNights'));
      if (s < todayStr()) return showError(box, t('manage.pastNights'));
      if (l < s) return showError(box, t('manage.nightsOrder'));
      const r = { start: s, end: addDays(l, 1) };
      const nights = [];
      for (let d = r.start; d < r.end; d = addDays(d, 1)) nights.push(d);
      if (action === 'block' && nights.some((d) => cal.booked.has(d))) return showError(box, t('manage.blockBooked'));
      if (action === 'unblock' && !nights.some((d) => cal.blocked.has(d))) return showError(box, t('manage.nothingBlocked'));
      change(action, r, e.submitter || $('button[type=submit]', form));
    });
    $('#blocked-list').addEventListener('click', (e) => {
      const btn = e.target.closest('[data-unblock]');
      if (!btn) return;
      const li = btn.closest('li');
      change('unblock', { start: li.dataset.start, end: li.dataset.end }, btn);
    });
  }

  /* ---------- the listing's details ---------- */
  if (v11) {
    const form = $('#house-form');
    const box = $('#house-alert');
    fillAreas(form.area_id, areas || []);
    fillHouseForm(form, h, await areaIdOf(h, areas));
    wireHouseForm(form);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const payload = readHouseForm(form, box);
      if (!payload) return;
      try {
        await busy($('button[type=submit]', form), () => api(`/houses/${houseId}`, { method: 'PUT', body: payload }));
        h.title = payload.title;
        try { await refresh(); } catch { /* saved all the same */ }
        setHeading();
        drawStatus();
        showOk(box, t('manage.editSaved'));
      } catch (err) {
        showError(box, err);
      }
    });
  }

  // newhouse.html?id=N#photos etc.: the browser scrolled before the panels existed.
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}
