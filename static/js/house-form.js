// The house form: every field of POST /houses (publishing) and PUT
// /houses/:id (editing, API v1.1), with the same checks on both, and the
// booking rules (instant book, cancellation policy).
import { t, FACILITY_IDS } from './i18n.js';
import { html, $, $$, showError, hideAlert, yuan, CANCEL_POLICIES, policyRule } from './ui.js';

const field = (id, key, input, hint) => html`<div class="field">
  <label for="${id}">${t(key)}</label>${input}${hint ? html`<p class="hint">${hint}</p>` : ''}</div>`;

/** The form's markup; `submitLabel` names its button. */
export function houseFormHtml({ submitLabel }) {
  return html`
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
  <fieldset class="card">
    <legend>${t('newhouse.bookingRules')}</legend>
    <label class="check"><input type="checkbox" id="instant_book" name="instant_book" aria-describedby="instant_book-hint"> ${t('newhouse.instantBook')}</label>
    <p class="hint" id="instant_book-hint">${t('newhouse.instantBookHint')}</p>
    <div class="field" style="margin-top:1rem">
      <label for="cancel_policy">${t('newhouse.cancelPolicy')}</label>
      <select id="cancel_policy" name="cancel_policy" required aria-describedby="cancel_policy-hint">
        ${CANCEL_POLICIES.map((p) => html`<option value="${p}">${t('policyOption.' + p)}</option>`)}
      </select>
      <p class="hint policy-hint" id="cancel_policy-hint" aria-live="polite">${policyRule(CANCEL_POLICIES[0])}</p>
    </div>
  </fieldset>
  <div class="alert" role="alert" id="house-alert" hidden></div>
  <button type="submit" class="btn btn-block">${submitLabel}</button>
</form>`;
}

/**
 * The request body of the form, or null after showing (in `box`) the first
 * required field left empty. The server validates every field for real.
 */
export function readHouseForm(form, box) {
  hideAlert(box);
  for (const el of form.querySelectorAll('[required]')) {
    if (!String(el.value).trim()) {
      el.setAttribute('aria-invalid', 'true');
      el.focus();
      showError(box, t('v.required', { field: $(`label[for="${el.id}"]`, form).textContent }));
      return null;
    }
  }
  const v = (name) => form[name].value.trim();
  const int = (name) => Number.parseInt(v(name), 10);
  return {
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
    instant_book: form.instant_book.checked,
    cancel_policy: form.cancel_policy.value,
  };
}

/** Fills the form from a HouseDetail (money in fen becomes yuan). */
export function fillHouseForm(form, h, areaId) {
  const set = (name, value) => { if (value !== undefined && value !== null) form[name].value = String(value); };
  set('title', h.title);
  set('price', h.price === undefined ? undefined : yuan(h.price));
  set('deposit', h.deposit === undefined ? undefined : yuan(h.deposit));
  if (areaId) set('area_id', areaId);
  for (const k of ['address', 'room_count', 'acreage', 'unit', 'capacity', 'beds', 'min_days', 'max_days']) set(k, h[k]);
  const on = new Set((h.facilities || []).map(Number));
  for (const c of $$('input[name=facility]', form)) c.checked = on.has(Number(c.value));
  form.instant_book.checked = Boolean(h.instant_book);
  if (CANCEL_POLICIES.includes(h.cancel_policy)) set('cancel_policy', h.cancel_policy);
  showPolicyRule(form);
}

/** The chosen policy's rule in words, under the select. */
function showPolicyRule(form) {
  $('#cancel_policy-hint', form).textContent = policyRule(form.cancel_policy.value);
}

/** Clears a field's error mark as soon as it is edited. */
export function wireHouseForm(form) {
  form.addEventListener('input', (e) => e.target.removeAttribute('aria-invalid'));
  form.cancel_policy.addEventListener('change', () => showPolicyRule(form));
}
