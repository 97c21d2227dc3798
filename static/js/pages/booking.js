import { t } from '../i18n.js';
import { api } from '../api.js';
import { cardPayment } from '../payments.js';
import { initPage, html, render, $, imgOr, money, yuan, loadingHtml, errorHtml, emptyHtml, showError, hideAlert, busy, createCalendar, todayStr, addDays, nightsBetween, isDate, dateText, instantBadge, policyName, policyRule } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#booking-body');
const params = new URLSearchParams(location.search);
const id = params.get('id');
render(body, loadingHtml());

if (!id || !/^\d+$/.test(id)) {
  render(body, emptyHtml(t('err.missingId'), html`<a class="btn" href="search.html">${t('orders.toSearch')}</a>`));
} else {
  try {
    const data = await api(`/houses/${id}`);
    show(data.house, data.user_id);
  } catch (err) {
    render(body, err.errno === '4002' ? emptyHtml(t('detail.notFound')) : errorHtml(err));
  }
}

function show(h, viewer) {
  const today = todayStr();
  const cover = (h.img_urls && h.img_urls[0]) || '';
  if (Number(viewer) === Number(h.user_id)) {
    render(body, emptyHtml(t('booking.ownHouse'), html`<a class="btn" href="detail.html?id=${h.hid}">${t('nav.back')}</a>`));
    return;
  }
  render(body, html`
    <section class="card booking-house">
      <img src="${imgOr(cover)}" alt="" width="110" height="80">
      <div>
        <h2><a href="detail.html?id=${h.hid}">${h.title}</a></h2>
        <p class="muted" style="margin:0"><strong>${money(h.price)}</strong>${t('common.perNight')} · ${t('detail.minDays')} ${t('common.nights', { n: h.min_days })}${Number(h.max_days) ? ` · ${t('detail.maxDays')} ${t('common.nights', { n: h.max_days })}` : ''}</p>
      </div>
    </section>
    <form id="booking-form" class="card" novalidate>
      <h2>${t('booking.dates')}</h2>
      <div class="grid-2 grid-dates">
        <div class="field"><label for="sd">${t('index.startDate')}</label>
          <input type="date" id="sd" name="sd" min="${today}" required></div>
        <div class="field"><label for="ed">${t('index.endDate')}</label>
          <input type="date" id="ed" name="ed" min="${addDays(today, 1)}" required></div>
      </div>
      <div id="calendar" style="margin-bottom:1rem"></div>
      <div class="total-box" aria-live="polite">
        <div><div class="muted" id="nights">${t('booking.pickDates')}</div><div class="muted" id="formula"></div></div>
        <div><span class="muted">${t('booking.total')} </span><strong id="total">—</strong></div>
      </div>
      <ul class="rules booking-rules" id="booking-rules" style="margin-top:1rem">
        <li id="booking-mode">${h.instant_book ? html`<strong>${instantBadge()}</strong>${t('booking.instantNote')}` : html`<strong>${t('detail.request')}</strong>${t('booking.requestNote')} <span id="request-latest"></span>`}</li>
        <li id="booking-policy"><strong>${t('detail.policy', { name: policyName(h.cancel_policy) })}</strong>${policyRule(h.cancel_policy)}</li>
      </ul>
      <section id="payment" class="pay-box" hidden></section>
      <div class="alert" role="alert" id="booking-alert" hidden style="margin-top:1rem"></div>
      <button type="submit" class="btn btn-block" style="margin-top:1rem">${t('booking.submit')}</button>
    </form>`);

  const form = $('#booking-form');
  const box = $('#booking-alert');
  // With payments on, the card form (null when off; a failure to load
  // Stripe.js is shown and stops the booking rather than skipping payment).
  const payment = cardPayment($('#payment'));
  payment.catch((err) => showError(box, err));
  const cal = createCalendar($('#calendar'), {
    booked: h.booked || [],
    blocked: h.blocked || [],
    onPick: ({ start, end }) => {
      form.sd.value = start || '';
      form.ed.value = end || '';
      update();
    },
  });

  /** Why the chosen dates can't be booked, or '' (the server has the last word). */
  function problem(sd, ed) {
    if (!isDate(sd) || !isDate(ed)) return t('v.datesMissing');
    if (sd < today) return t('v.datesPast');
    if (ed <= sd) return t('v.datesOrder');
    const n = nightsBetween(sd, ed);
    if (n < Number(h.min_days)) return t('v.minDays', { n: h.min_days });
    if (Number(h.max_days) && n > Number(h.max_days)) return t('v.maxDays', { n: h.max_days });
    for (let d = sd; d < ed; d = addDays(d, 1)) if (cal.booked.has(d)) return t('v.overlap');
    for (let d = sd; d < ed; d = addDays(d, 1)) if (cal.blocked.has(d)) return t('v.unavailable');
    return '';
  }

  function update({ fromInputs = false } = {}) {
    const sd = form.sd.value;
    const ed = form.ed.value;
    if (isDate(sd)) form.ed.min = addDays(sd, 1);
    if (fromInputs) cal.setRange(sd, ed);
    hideAlert(box);
    // A request can't outlive its check-in day (the server sets the exact deadline).
    const latest = $('#request-latest');
    if (latest) latest.textContent = isDate(sd) ? t('booking.requestLatest', { d: dateText(sd) }) : '';
    if (isDate(sd) && isDate(ed) && ed > sd) {
      const n = nightsBetween(sd, ed);
      $('#nights').textContent = t('booking.nights', { n });
      $('#formula').textContent = t('booking.formula', { price: yuan(h.price), n });
      $('#total').textContent = money(n * Number(h.price));
      const p = problem(sd, ed);
      if (p) showError(box, p);
    } else {
      $('#nights').textContent = t('booking.pickDates');
      $('#formula').textContent = '';
      $('#total').textContent = '—';
      if (isDate(sd) && isDate(ed)) showError(box, t('v.datesOrder'));
    }
  }
  form.sd.addEventListener('change', () => update({ fromInputs: true }));
  form.ed.addEventListener('change', () => update({ fromInputs: true }));
  form.sd.addEventListener('input', () => update({ fromInputs: true }));
  form.ed.addEventListener('input', () => update({ fromInputs: true }));

  if (isDate(params.get('sd'))) form.sd.value = params.get('sd');
  if (isDate(params.get('ed'))) form.ed.value = params.get('ed');
  update({ fromInputs: true });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    hideAlert(box);
    const sd = form.sd.value;
    const ed = form.ed.value;
    const p = problem(sd, ed);
    if (p) return showError(box, p);
    try {
      const made = await busy($('button[type=submit]', form), async () => {
        const pay = await payment;
        const order = { house_id: Number(h.hid), start_date: sd, end_date: ed };
        if (pay) order.payment_method = await pay.paymentMethod();
        const result = await api('/orders', { method: 'POST', body: order });
        if (pay) await pay.complete(result);
        return result;
      });
      // The orders page says whether it is confirmed or a request, and its deadline.
      location.assign(`orders.html?booked=${encodeURIComponent((made && made.order_id) || '')}`);
    } catch (err) {
      showError(box, err);
      if (err.errno === '4004') {
        // Someone else took these nights meanwhile: show them on the calendar.
        api(`/houses/${h.hid}`).then((d) => {
          cal.setBlocked(d.house.blocked || []);
          cal.setBooked(d.house.booked || []);
        }).catch(() => {});
      }
    }
  });
}
