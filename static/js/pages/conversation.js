// conversation.html?id=: one conversation, oldest at the top, newest at the
// bottom, with "older messages" and a send box. Reading a page marks the
// other party's messages on it read (the server does it). Every text is
// rendered as text (html`` escapes), whatever markup it contains.
import { t } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, $, imgOr, loadingHtml, errorHtml, emptyHtml, busy, toast, refreshUnread } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#conversation-body');
const id = new URLSearchParams(location.search).get('id');
let shown = []; // oldest first
let me = 'guest';
let hasMore = false;

function message(m) {
  const mine = m.sender === me;
  return html`<li class="message ${mine ? 'message-mine' : 'message-theirs'}" data-message="${m.message_id}">
    <p class="message-text">${m.text}</p>
    <time class="message-time">${mine ? t('conversation.you') : ''} ${m.ctime}</time></li>`;
}

function show(page) {
  document.title = `${page.name} · ${page.house.title} - ${t('site.name')}`;
  render(body, html`
    <section class="card conversation-head">
      <img src="${imgOr(page.house.img_url)}" alt="" width="72" height="54">
      <div><strong id="conversation-with">${t('conversation.with', { name: page.name })}</strong>
        <p class="muted" style="margin:0"><a href="detail.html?id=${page.house.house_id}">${page.house.title}</a></p></div>
    </section>
    <section class="card">
      ${hasMore ? html`<button type="button" class="btn btn-ghost btn-small" id="older">${t('conversation.older')}</button>` : ''}
      ${shown.length
        ? html`<ol class="message-list" id="message-list">${shown.map(message)}</ol>`
        : html`<p class="muted" id="message-list">${t('conversation.empty')}</p>`}
      <form id="send-form" class="send-form" novalidate>
        <label for="send-text">${t('conversation.label')}</label>
        <textarea id="send-text" name="text" rows="3" maxlength="1000" required placeholder="${t('conversation.placeholder')}"></textarea>
        <button type="submit" class="btn" id="send-btn">${t('conversation.send')}</button>
      </form>
    </section>`);
  const list = $('#message-list');
  if (list && list.lastElementChild) list.lastElementChild.scrollIntoView({ block: 'nearest' });
}

async function load(before) {
  const page = await api(`/conversations/${id}/messages`, { query: before ? { before } : {} });
  me = page.role;
  hasMore = page.has_more;
  const older = [...page.messages].reverse();
  shown = before ? [...older, ...shown] : older;
  show(page);
  return page;
}

if (!id || !/^\d+$/.test(id)) {
  render(body, emptyHtml(t('err.missingId'), html`<a class="btn" href="messages.html">${t('messages.heading')}</a>`));
} else {
  render(body, loadingHtml());
  try {
    await load();
    // Reading the page marked its messages read: the header's badge drops them.
    refreshUnread();
  } catch (err) {
    render(body, errorHtml(err));
  }
  body.addEventListener('click', async (e) => {
    if (e.target.id !== 'older' || !shown.length) return;
    try {
      await busy(e.target, () => load(shown[0].message_id));
    } catch (err) {
      if (!err.redirecting) toast(err.message, 'error');
    }
  });
  body.addEventListener('submit', async (e) => {
    e.preventDefault();
    const box = $('#send-text');
    const text = box.value;
    if (!text.trim()) return toast(t('conversation.emptyText'), 'error');
    try {
      await busy($('#send-btn'), () => api(`/conversations/${id}/messages`, { method: 'POST', body: { text } }));
      shown = [];
      await load();
      $('#send-text').focus();
    } catch (err) {
      if (!err.redirecting) toast(err.message, 'error');
    }
  });
}
