// The order lists: orders.html (role=custom, the guest) and lorders.html
// (role=landlord). Buttons appear only where the order's status allows:
// a request can be withdrawn (guest) or accepted/declined before its
// deadline (landlord); an accepted stay can be cancelled before check-in by
// the guest (refund by the house's policy, previewed first) or by the
// landlord (with a reason, full refund).
import { t } from './i18n.js';
import { api } from './api.js';
import {
  initPage, html, render, $, $$, imgOr, money, dateText, loadingHtml, errorHtml, emptyHtml, statusBadge, confirmDialog,
  textDialog, reviewDialog, toast, todayStr, busy, timeText, timeLeftText, beforeCheckIn, policyName, policyRule,
} from './ui.js';

/** How often the request countdowns are redrawn. */
const TICK_MS = 30_000;

export async function showOrders(role) {
  await initPage({ requireLogin: true });
  const body = $('#orders-body');
  const guest = role === 'custom';
  // booking.html sends the guest here with ?booked=<order id>.
  let booked = new URLSearchParams(location.search).get('booked');
  if (booked !== null) history.replaceState(null, '', location.pathname); // no second banner on reload
  let orders = [];

  async function load() {
    if (!body.children.length) render(body, loadingHtml());
    try {
      const data = await api('/user/orders', { query: { role } });
      orders = (data && data.orders) || [];
      render(body, html`${bookedNote()}${orders.length
        ? html`<ul class="order-list" id="order-list">${orders.map(item)}</ul>`
        : guest
          ? emptyHtml(t('orders.empty'), html`<a class="btn" href="search.html">${t('orders.toSearch')}</a>`)
          : emptyHtml(t('lorders.empty'))}`);
    } catch (err) {
      render(body, errorHtml(err));
    }
  }

  /** The banner after a booking: confirmed at once, or a request and its deadline. */
  function bookedNote() {
    if (booked === null) return '';
    const o = orders.find((x) => String(x.order_id) === booked);
    let msg = t('booking.done');
    if (o && o.status === 'WAIT_COMMENT') msg = t('booking.doneInstant');
    else if (o && o.status === 'WAIT_ACCEPT' && o.expires_at) msg = t('booking.doneRequest', { v: timeText(o.expires_at) });
    return html`<div class="alert alert-ok" role="status" id="booked-note">${msg}</div>`;
  }

  function deadlineHtml(o) {
    const left = timeLeftText(o.expires_at);
    return html`<p class="order-deadline" data-deadline="${o.expires_at}">${t(guest ? 'orders.deadline' : 'lorders.deadline', { v: timeText(o.expires_at) })}<span class="time-left">${left ? ' ' + left : ''}</span></p>`;
  }

  function noteOf(o) {
    const refund = money(o.refund);
    // The sentence adds its own full stop: a reason's own (ideographic, full-width or ASCII) goes.
    const reason = String(o.comment || '').replace(/[\s\u3002\uff0e\uff01.!]+$/u, '');
    switch (o.status) {
      case 'REJECTED':
        return o.comment ? t('orders.rejectReason', { v: o.comment }) : '';
      case 'COMPLETE':
        return o.comment ? t(guest ? 'orders.myComment' : 'orders.guestComment', { v: o.comment }) : '';
      case 'EXPIRED':
        return o.expires_at ? t(guest ? 'orders.expiredNote' : 'lorders.expiredNote', { v: timeText(o.expires_at) }) : '';
      case 'CANCELED':
        if (o.canceled_by === 'landlord') {
          return t(guest ? 'orders.canceledByHost' : 'lorders.canceledByMe', { reason, v: refund });
        }
        if (o.canceled_by === 'guest') {
          // No refund: a withdrawn request (nothing was charged) or a late cancel. The list
          // can't tell them apart, so it names no amount rather than a misleading "¥0".
          if (!Number(o.refund)) return t(guest ? 'orders.canceledNoRefund' : 'lorders.canceledNoRefund');
          return t(guest ? 'orders.canceledByMe' : 'lorders.canceledByGuest', { v: refund });
        }
        return '';
      default:
        return '';
    }
  }

  /** Where the guest's money stands (payments on; `none` shows nothing). */
  function paymentHtml(o) {
    const key = { authorized: 'pay.authorized', captured: 'pay.captured', released: 'pay.released', refunded: 'pay.refunded' }[o.payment];
    if (!key) return '';
    const v = money(o.payment === 'refunded' ? o.refund : o.amount);
    return html`<p class="order-payment" data-payment="${o.payment}">${t(guest ? key : 'l' + key, { v })}</p>`;
  }

  function item(o) {
    const today = todayStr();
    const note = noteOf(o);
    const open = o.status === 'WAIT_ACCEPT' || o.status === 'WAIT_COMMENT';
    let actions = '';
    if (o.status === 'WAIT_PAYMENT' && guest) {
      actions = html`<button type="button" class="btn btn-danger btn-small" data-act="cancel">${t('orders.cancel')}</button>`;
    } else if (o.status === 'WAIT_ACCEPT') {
      actions = guest
        ? html`<button type="button" class="btn btn-danger btn-small" data-act="cancel">${t('orders.cancel')}</button>`
        : html`<button type="button" class="btn btn-danger btn-small" data-act="reject">${t('orders.reject')}</button>
               <button type="button" class="btn btn-ok btn-small" data-act="accept">${t('orders.accept')}</button>`;
    } else if (o.status === 'WAIT_COMMENT' && guest) {
      if (o.end_date <= today) actions = html`<button type="button" class="btn btn-small" data-act="comment">${t('orders.comment')}</button>`;
      else {
        actions = html`<span class="hint">${t('orders.waitStay')}</span>
          ${beforeCheckIn(o.start_date) ? html`<button type="button" class="btn btn-danger btn-small" data-act="cancel">${t('orders.cancel')}</button>` : ''}`;
      }
    } else if (o.status === 'WAIT_COMMENT') {
      actions = html`<span class="hint">${t('lorders.waitComment')}</span>
        ${beforeCheckIn(o.start_date) ? html`<button type="button" class="btn btn-danger btn-small" data-act="host_cancel">${t('lorders.hostCancel')}</button>` : ''}`;
    }
    return html`<li class="order${booked !== null && String(o.order_id) === booked ? ' is-new' : ''}" data-order="${o.order_id}" data-status="${o.status}" data-start="${o.start_date}" data-end="${o.end_date}">
      <div class="order-top"><span>${t('orders.ctime', { v: o.ctime })}</span>${statusBadge(o.status)}</div>
      <div class="order-main">
        <img src="${imgOr(o.img_url)}" alt="" width="104" height="78" loading="lazy">
        <div>
          <h2><a href="detail.html?id=${o.house_id}">${o.title}</a></h2>
          <p>${t('orders.dates', { s: dateText(o.start_date), e: dateText(o.end_date), n: o.days })}</p>
          <p class="order-amount">${t('orders.amount')}<strong>${money(o.amount)}</strong></p>
          ${open && o.cancel_policy ? html`<p class="order-policy">${t('detail.policy', { name: policyName(o.cancel_policy) })}</p>` : ''}
        </div>
      </div>
      ${paymentHtml(o)}
      ${o.status === 'WAIT_ACCEPT' && o.expires_at ? deadlineHtml(o) : ''}
      ${note ? html`<p class="order-note">${note}</p>` : ''}
      ${actions || o.conversation_id ? html`<div class="order-actions">${o.conversation_id ? html`<a class="btn btn-ghost btn-small order-conversation" href="conversation.html?id=${o.conversation_id}">${t(guest ? 'orders.messageHost' : 'orders.messageGuest')}</a>` : ''}${actions}</div>` : ''}
    </li>`;
  }

  const setStatus = (id, body) => api(`/orders/${id}/status`, { method: 'PUT', body });

  /**
   * The guest's cancel, after the server's preview (which also refuses an
   * order that can no longer be cancelled, e.g. a request just expired): a
   * request goes at no cost; an accepted stay shows its refund first.
   */
  async function guestCancel(o, btn) {
    const preview = await busy(btn, () => api(`/orders/${o.order_id}/refund`));
    const policy = preview.policy || o.cancel_policy;
    const request = o.status === 'WAIT_ACCEPT' || o.status === 'WAIT_PAYMENT';
    const message = request
      ? t('orders.cancelConfirm')
      : html`<strong id="refund-preview">${t('orders.refundPreview', { policy: policyName(policy), refund: money(preview.refund), amount: money(o.amount) })}</strong><br><span class="muted">${policyRule(policy)}</span>`;
    if (!await confirmDialog(message, t('orders.cancel'), { cancelText: t('orders.keep') })) return false;
    // The refund shown goes with the cancel: if the order changed meanwhile
    // (the landlord accepted, a policy boundary passed) the server refuses
    // it (4004) instead of cancelling on other terms than the guest saw.
    await busy(btn, () => setStatus(o.order_id, { action: 'cancel', refund: preview.refund }));
    toast(request ? t('orders.canceled') : t('orders.canceledRefund', { v: money(preview.refund) }));
    return true;
  }

  body.addEventListener('click', async (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const id = btn.closest('[data-order]').dataset.order;
    const o = orders.find((x) => String(x.order_id) === id);
    const act = btn.dataset.act;
    try {
      let changed = false;
      if (act === 'cancel') {
        changed = await guestCancel(o, btn);
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
      } else if (act === 'host_cancel') {
        changed = await textDialog({
          title: t('lorders.hostCancelTitle'), message: t('lorders.hostCancelNote', { v: money(o.amount) }),
          label: t('lorders.hostCancelLabel'), placeholder: t('lorders.hostCancelPlaceholder'),
          maxlength: 200, emptyMsg: t('lorders.hostCancelEmpty'), okText: t('lorders.hostCancel'), cancelText: t('orders.keep'),
          submit: (reason) => setStatus(id, { action: 'host_cancel', reason }),
        });
        if (changed) toast(t('lorders.hostCanceled'));
      } else if (act === 'comment') {
        // A star rating (1–5) is required with the comment (API v1.1).
        changed = await reviewDialog({
          submit: ({ rating, comment }) => api(`/orders/${id}/comment`, { method: 'PUT', body: { comment, rating } }),
        });
        if (changed) toast(t('orders.commented'));
      }
      if (changed) {
        booked = null; // the "just booked" banner is old news now
        await load();
      }
    } catch (err) {
      if (!err.redirecting) toast(err.message, 'error');
      await load(); // the order may have changed meanwhile
    }
  });

  // Request countdowns tick; once one runs out the list is read again (the server shows EXPIRED).
  setInterval(() => {
    let due = false;
    for (const p of $$('[data-deadline]', body)) {
      const left = timeLeftText(p.dataset.deadline);
      if (!left) due = true;
      $('.time-left', p).textContent = left ? ' ' + left : '';
    }
    if (due && !document.querySelector('dialog[open]')) load();
  }, TICK_MS);

  await load();
}
