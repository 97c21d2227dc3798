import { t } from '../i18n.js';
import { api } from '../api.js';
import { initPage, html, render, $, loadingHtml, errorHtml, emptyHtml, houseCard } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#houses-body');
render(body, loadingHtml());

try {
  const u = await api('/user/auth');
  if (!u.real_name) {
    render(body, emptyHtml(t('myhouse.needAuth'), html`<a class="btn" href="auth.html">${t('myhouse.toAuth')}</a>`));
  } else {
    $('#new-house').hidden = false;
    const data = await api('/user/houses');
    const houses = (data && data.houses) || [];
    render(body, houses.length
      ? html`<ul class="house-list" id="my-houses">${houses.map((h) => houseCard(h, '',
          html`<a class="btn btn-ghost btn-small" href="newhouse.html?id=${h.house_id}" aria-label="${t('manage.linkFor', { title: h.title })}">${t('manage.link')}</a>`))}</ul>`
      : emptyHtml(t('myhouse.empty'), html`<a class="btn" href="newhouse.html">${t('myhouse.new')}</a>`));
  }
} catch (err) {
  render(body, errorHtml(err));
}
