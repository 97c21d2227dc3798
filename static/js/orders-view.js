// The order lists: orders.html (role=custom, the guest) and lorders.html
// (role=landlord). Buttons appear only where the order's status allows.
import { t } from './i18n.js';
import { api } from './api.js';
import { initPage, html, render, $, imgOr, money, dateText, loadingHtml, errorHtml, emptyHtml, statusBadge, confirmDialog, textDialog, reviewDialog, toast, todayStr, busy } from './ui.js';

export async function showOrders(role) {
  await initPage({ requireLogin: true });
  const body = $('#orders-body');
  const guest = role === 'custom';
  if (new URLSearchParams(location.search).get('booked')) {
    toast(t('booking.done'));
    history.replaceState(null, '', location.pathname); // no second toast on reload
  }

  async function load() {
    if (!body.children.length) render(body, loadingHtml());
    try {
      const data = await api('/user/orders', { query: { role } });
      const orders = (data && data.orders) || [];
      render(body, orders.length
        ? html`<ul class="order-list" id="order-list">${orders.map(item)}</ul>`
        : guest
          ? emptyHtml(t('orders.empty'), html`<a class="btn" href="search.html">${t('orders.toSearch')}</a>`)
          : emptyHtml(t('lorders.empty')));
    } catch (err) {
      render(body, errorHtml(err));
    }
  }

  function item(o) {
    const today = todayStr();
    let note = '';
    if (o.status === 'REJECTED' && o.comment) note = t('orders.rejectReason', { v: o.comment });
    else if (o.status === 'COMPLETE' && o.comment) note = t(guest ? 'orders.myComment' : 'orders.guestComment', { v: o.comment });
    let actions = '';
    if (o.status === 'WAIT_ACCEPT') {
      actions = guest
        ? html`<button type="button" class="btn btn-danger btn-small" data-act="cancel">${t('orders.cancel')}</button>`
        : html`<button type="button" class="btn btn-danger btn-small" data-act="reject">${t('orders.reject')}</button>
               <button type="button" class="btn btn-ok btn-small" data-act="accept">${t('orders.accept')}</button>`;
    } else if (o.status === 'WAIT_COMMENT' && guest) {
      actions = o.end_date <= today
        ? html`<button type="button" class="btn btn-small" data-act="comment">${t('orders.comment')}</button>`
        : html`<span class="hint">${t('orders.waitStay')}</span>`;
    } else if (o.status === 'WAIT_COMMENT') {
      actions = html`<span class="hint">${t('lorders.waitComment')}</span>`;
    }
    return html`<li class="order" data-order="${o.order_id}" data-status="${o.status}" data-start="${o.start_date}" data-end="${o.end_date}">
      <div class="order-top"><span>${t('orders.ctime', { v: o.ctime })}</span>${statusBadge(o.status)}</div>
      <div class="order-main">
        <img src="${imgOr(o.img_url)}" alt="" width="104" height="78" loading="lazy">
        <div>
          <h2><a href="detail.html?id=${o.house_id}">${o.title}</a></h2>
          <p>${t('orders.dates', { s: dateText(o.start_date), e: dateText(o.end_date), n: o.days })}</p>
          <p class="order-amount">${t('orders.amount')}<strong>${money(o.amount)}</strong></p>
        </div>
      </div>
      ${note ? html`<p class="order-note">${note}</p>` : ''}
      ${actions || o.conversation_id ? html`<div class="order-actions">${o.conversation_id ? html`<a class="btn btn-ghost btn-small order-conversation" href="conversation.html?id=${o.conversation_id}">${t(guest ? 'orders.messageHost' : 'orders.messageGuest')}</a>` : ''}${actions}</div>` : ''}
    </li>`;
  }

  const setStatus = (id, body) => api(`/orders/${id}/status`, { method: 'PUT', body });

  body.addEventListener('click', async (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const id = btn.closest('[data-order]').dataset.order;
    const act = btn.dataset.act;
    try {
      let changed = false;
      if (act === 'cancel' && await confirmDialog(t('orders.cancelConfirm'), t('orders.cancel'))) {
        await busy(btn, () => setStatus(id, { action: 'cancel' }));
        toast(t('orders.canceled'));
        changed = true;
      } else if (act === 'accept' && await confirmDialog(t('orders.acceptConfirm'), t('orders.accept'))) {
        await busy(btn, () => setStatus(id, { action: 'accept' }));
        toast(t('orders.accepted'));
        changed = true;
      } else if (act === 'reject') {
        changed = await textDialog({
          title: t('orders.rejectTitle'), label: t('orders.rejectLabel'), placeholder: t('orders.rejectPlaceholder'),
          maxlength: 200, emptyMsg: t('orders.rejectEmpty'), okText: t('orders.reject'),
          submit: (reason) => setStatus(id, { action: 'reject', reason }),
        });
        if (changed) toast(t('orders.rejected'));
      } else if (act === 'comment') {
        // A star rating (1–5) is required with the comment (API v1.1).
        changed = await reviewDialog({
          submit: ({ rating, comment }) => api(`/orders/${id}/comment`, { method: 'PUT', body: { comment, rating } }),
        });
        if (changed) toast(t('orders.commented'));
      }
      if (changed) await load();
    } catch (err) {
      if (!err.redirecting) toast(err.message, 'error');
      await load(); // the order may have changed meanwhile
    }
  });

  await load();
}
