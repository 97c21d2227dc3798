import { t, FACILITY_IDS } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, $, imgOr, money, loadingHtml, errorHtml, emptyHtml, createCalendar, isDate, ratingHtml, commentStars, instantBadge, policyName, policyRule, busy, toast } from '../ui.js';

await initPage();
const body = $('#detail-body');
const params = new URLSearchParams(location.search);
const id = params.get('id');
render(body, loadingHtml());

function bookHref() {
  const q = new URLSearchParams({ id });
  for (const k of ['sd', 'ed']) if (isDate(params.get(k))) q.set(k, params.get(k));
  return 'booking.html?' + q;
}

if (!id || !/^\d+$/.test(id)) {
  render(body, emptyHtml(t('err.missingId'), html`<a class="btn" href="search.html">${t('orders.toSearch')}</a>`));
} else {
  try {
    const data = await api(`/houses/${id}`);
    show(data.house, data.user_id);
  } catch (err) {
    render(body, err.errno === '4002'
      ? emptyHtml(t('detail.notFound'), html`<a class="btn" href="search.html">${t('orders.toSearch')}</a>`)
      : errorHtml(err));
  }
}

function show(h, viewer) {
  document.title = `${h.title} - ${t('site.name')}`;
  const own = Number(viewer) === Number(h.user_id);
  const imgs = h.img_urls || [];
  const facilities = new Set((h.facilities || []).map(Number));
  const comments = h.comments || [];
  const bookAction = own
    ? html`<p class="alert alert-warn" style="margin:0 0 .75rem">${t('detail.ownHouse')}</p>
        <a class="btn btn-ghost btn-block" id="manage-link" href="newhouse.html?id=${h.hid}">${t('manage.link')}</a>`
    : html`<a class="btn btn-block" id="book-btn" href="${bookHref()}">${t('detail.book')}</a>`;
  // The house's average rating; "no ratings yet" only when the server says so (null).
  const rating = ratingHtml(h.rating, h.rating_count, 'rating-lg');
  const ratingLine = rating
    ? html`<p class="detail-rating" id="house-rating">${rating}</p>`
    : h.rating === null ? html`<p class="detail-rating muted" id="house-rating">${t('rating.none')}</p>` : '';
  render(body, html`
    ${own && h.published === false ? html`<div class="alert alert-warn" id="unpublished-note">${t('detail.unpublishedOwner')}</div>` : ''}
    <section class="gallery" aria-label="${t('detail.gallery')}">
      ${imgs.length
        ? html`<div class="gallery-track" tabindex="0" aria-label="${t('detail.gallery')}">${imgs.map((u, i) => html`<img src="${u}" alt="${h.title} ${i + 1}/${imgs.length}" ${i ? html`loading="lazy"` : ''}>`)}</div>
               <span class="gallery-count" id="gallery-count">1 / ${imgs.length}</span>
               ${imgs.length > 1 ? html`<button type="button" class="carousel-btn prev" data-go="-1" aria-label="${t('detail.prevImage')}">‹</button>
               <button type="button" class="carousel-btn next" data-go="1" aria-label="${t('detail.nextImage')}">›</button>` : ''}`
        : html`<div class="gallery-track"><img src="${imgOr('')}" alt="${t('detail.noImages')}"></div>`}
    </section>
    <div class="detail-layout">
      <div>
        <section class="card">
          <h1 class="detail-title" id="house-title">${h.title}</h1>
          ${h.instant_book ? html`<p class="detail-badges">${instantBadge()}</p>` : ''}
          ${ratingLine}
          <p class="price-line"><strong>${money(h.price)}</strong>${t('common.perNight')}</p>
          <div class="owner">
            <img class="avatar avatar-md" src="${imgOr(h.user_avatar, 'avatar')}" alt="" width="56" height="56">
            <div><strong>${t('detail.landlord', { name: h.user_name })}</strong>
              <p class="muted" style="margin:0">${t('detail.addressLine', { v: h.address })}</p></div>
          </div>
        </section>
        ${own ? '' : askForm()}
        <section class="card" aria-labelledby="facts-title">
          <h2 id="facts-title">${t('detail.facts')}</h2>
          <ul class="facts">
            <li>${t('detail.roomCount', { n: h.room_count })}</li>
            <li>${t('detail.acreage', { n: h.acreage })}</li>
            <li>${t('detail.unit', { v: h.unit })}</li>
            <li>${t('detail.capacity', { n: h.capacity })}</li>
            <li>${t('detail.beds', { v: h.beds })}</li>
            <li><span class="label">${t('detail.deposit')}</span>${money(h.deposit)}</li>
            <li><span class="label">${t('detail.minDays')}</span>${t('common.nights', { n: h.min_days })}</li>
            <li><span class="label">${t('detail.maxDays')}</span>${Number(h.max_days) ? t('common.nights', { n: h.max_days }) : t('common.unlimited')}</li>
          </ul>
        </section>
        <section class="card" aria-labelledby="rules-title" id="rules">
          <h2 id="rules-title">${t('detail.rules')}</h2>
          <ul class="rules">
            <li id="rule-booking"><strong>${t(h.instant_book ? 'house.instant' : 'detail.request')}</strong>${t(h.instant_book ? 'detail.instantText' : 'detail.requestText')}</li>
            <li id="rule-policy"><strong>${t('detail.policy', { name: policyName(h.cancel_policy) })}</strong>${policyRule(h.cancel_policy)}</li>
          </ul>
        </section>
        <section class="card" aria-labelledby="fac-title">
          <h2 id="fac-title">${t('detail.facilities')}</h2>
          ${facilities.size
            ? html`<ul class="facility-list">${FACILITY_IDS.filter((f) => facilities.has(f)).map((f) => html`<li>${t('facility.' + f)}</li>`)}</ul>`
            : html`<p class="muted">${t('detail.noFacilities')}</p>`}
        </section>
        <section class="card" aria-labelledby="cal-title">
          <h2 id="cal-title">${t('detail.calendar')}</h2>
          <div id="calendar"></div>
        </section>
        <section class="card" aria-labelledby="comments-title">
          <h2 id="comments-title">${t('detail.comments')}</h2>
          ${comments.length
            ? html`<ul class="comments" id="comments">${comments.map((c) => html`<li>
                <div class="comment-head"><span class="comment-who"><strong>${c.user_name}</strong>${commentStars(c.rating)}</span><time>${c.ctime}</time></div>
                <p class="comment-text">${c.comment}</p></li>`)}</ul>`
            : html`<p class="muted" id="comments">${t('detail.noComments')}</p>`}
        </section>
      </div>
      <aside class="card book-box ${own ? '' : 'has-bar'}">
        <p class="price-line"><strong>${money(h.price)}</strong>${t('common.perNight')}</p>
        <p class="muted">${t('detail.minDays')} ${t('common.nights', { n: h.min_days })} · ${t('detail.deposit')} ${money(h.deposit)}</p>
        ${bookAction}
      </aside>
    </div>
    ${own ? '' : html`<div class="book-bar"><span><strong>${money(h.price)}</strong>${t('common.perNight')}</span>
      <a class="btn" href="${bookHref()}">${t('detail.book')}</a></div>`}`);
  if (!own) $('#ask-form').addEventListener('submit', ask);
  // Guests see landlord-blocked nights as unavailable, like booked ones; the owner sees which is which.
  createCalendar($('#calendar'), { booked: h.booked || [], blocked: h.blocked || [], showBlocked: own });
  const track = $('.gallery-track');
  const counter = $('#gallery-count');
  if (counter) {
    const at = () => Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
    track.addEventListener('scroll', () => { counter.textContent = `${at() + 1} / ${imgs.length}`; }, { passive: true });
    body.querySelector('.gallery').addEventListener('click', (e) => {
      const b = e.target.closest('[data-go]');
      if (!b) return;
      const i = (at() + Number(b.dataset.go) + imgs.length) % imgs.length;
      track.scrollTo({ left: i * track.clientWidth });
    });
  }
}

// "Contact the host": opens (or adds to) the guest's conversation about the
// house, then shows it. Anonymous visitors are sent to log in first.
function askForm() {
  return html`<section class="card" aria-labelledby="ask-title">
    <h2 id="ask-title">${t('detail.ask')}</h2>
    <form id="ask-form" class="ask-form" novalidate>
      <label for="ask-text">${t('detail.askLabel')}</label>
      <textarea id="ask-text" rows="3" maxlength="1000" placeholder="${t('detail.askPlaceholder')}"></textarea>
      <button type="submit" class="btn btn-ghost btn-block" id="ask-btn">${t('detail.ask')}</button>
    </form>
  </section>`;
}

async function ask(e) {
  e.preventDefault();
  const text = $('#ask-text').value;
  if (!text.trim()) return toast(t('conversation.emptyText'), 'error');
  try {
    const posted = await busy($('#ask-btn'), () => api(`/houses/${id}/inquiries`, { method: 'POST', body: { text } }));
    location.assign(`conversation.html?id=${posted.conversation_id}`);
  } catch (err) {
    if (!err.redirecting) toast(err.message, 'error');
  }
}
