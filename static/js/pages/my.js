import { t } from '../i18n.js';
import { api, forgetSession } from '../api.js';
import { initPage, html, render, $, imgOr, loadingHtml, errorHtml, busy, toast } from '../ui.js';

await initPage({ requireLogin: true });
const body = $('#my-body');
render(body, loadingHtml());

try {
  const [u, talks] = await Promise.all([api('/user'), api('/user/conversations')]);
  const unread = ((talks && talks.conversations) || []).reduce((n, c) => n + c.unread, 0);
  render(body, html`
    <section class="card profile-head">
      <img class="avatar avatar-lg" src="${imgOr(u.avatar_url, 'avatar')}" alt="" width="96" height="96">
      <div>
        <h1 id="my-name">${u.name}</h1>
        <p class="muted">${t('my.mobile', { mobile: u.mobile })}</p>
        <span class="tag ${u.real_name ? 'tag-ok' : ''}">${u.real_name ? t('my.verified') : t('my.unverified')}</span>
      </div>
    </section>
    <nav class="card" aria-label="${t('my.heading')}">
      <h2 class="menu-group-title">${t('my.account')}</h2>
      <ul class="menu">
        <li><a href="profile.html">${t('my.profile')}</a></li>
        <li><a href="auth.html">${t('my.auth')}</a></li>
        <li><a href="messages.html" id="my-messages">${t('my.messages')}${unread ? html` <span class="badge" aria-label="${t('messages.unread', { n: unread })}">${unread}</span>` : ''}</a></li>
      </ul>
    </nav>
    <nav class="card" aria-label="${t('my.asGuest')}">
      <h2 class="menu-group-title">${t('my.asGuest')}</h2>
      <ul class="menu"><li><a href="orders.html">${t('my.orders')}</a></li></ul>
    </nav>
    <nav class="card" aria-label="${t('my.asLandlord')}">
      <h2 class="menu-group-title">${t('my.asLandlord')}</h2>
      <ul class="menu">
        <li><a href="myhouse.html">${t('my.myhouse')}</a></li>
        <li><a href="lorders.html">${t('my.lorders')}</a></li>
      </ul>
    </nav>
    <button type="button" class="btn btn-danger btn-block" id="logout">${t('my.logout')}</button>`);
  $('#logout').addEventListener('click', async (e) => {
    try {
      await busy(e.currentTarget, () => api('/session', { method: 'DELETE', on4101: 'throw' }));
    } catch (err) {
      if (err.errno !== '4101') return toast(err.message, 'error');
    }
    forgetSession();
    location.assign('index.html');
  });
} catch (err) {
  render(body, errorHtml(err));
}
