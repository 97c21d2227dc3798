// messages.html: the user's conversations (as guest and as landlord), most
// recent first, each with its unread count. Texts are rendered as text.
import { t } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, $, imgOr, loadingHtml, errorHtml, emptyHtml } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#messages-body');
render(body, loadingHtml());

function item(c) {
  const last = c.last_message;
  const preview = last
    ? (last.sender === c.role ? t('messages.you', { v: last.text }) : last.text)
    : t('messages.noneYet');
  return html`<li class="conversation" data-conversation="${c.conversation_id}">
    <a class="conversation-link" href="conversation.html?id=${c.conversation_id}">
      <img src="${imgOr(c.house.img_url)}" alt="" width="72" height="54" loading="lazy">
      <span class="conversation-main">
        <span class="conversation-top"><strong>${c.name}</strong><time>${c.mtime}</time></span>
        <span class="conversation-house">${c.house.title} · ${t(c.role === 'guest' ? 'messages.asGuest' : 'messages.asLandlord')}</span>
        <span class="conversation-preview">${preview}</span>
      </span>
      ${c.unread ? html`<span class="badge" aria-label="${t('messages.unread', { n: c.unread })}">${c.unread}</span>` : ''}
    </a></li>`;
}

try {
  const data = await api('/user/conversations');
  const list = (data && data.conversations) || [];
  render(body, list.length
    ? html`<ul class="conversation-list" id="conversation-list">${list.map(item)}</ul>`
    : emptyHtml(t('messages.empty'), html`<a class="btn" href="search.html">${t('orders.toSearch')}</a>`));
} catch (err) {
  render(body, errorHtml(err));
}
