// Conversations in the browser (issue 25): a guest asks the host from the
// house's page ("联系房东"), the host sees the unread count on "my" page and
// the list, reads and answers; the order links to the same conversation.
// A message full of markup shows literally everywhere: no script runs, no
// element is made from it. axe and a 390 px screen on the new pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, dateAfter, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish, apiBook } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser();

const HOSTILE = '<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> '
  + '<a href="javascript:window.pwned = 3">点我</a> 可以停车吗？';

async function fitsPhone(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${what}: fits a 390 px screen (overflow ${overflow}px)`);
}

/**
 * The header's messages link shows `n` unread messages (no badge for 0),
 * and says so in its name (`name`, when given).
 */
async function unreadBadge(page, n, name) {
  // The count the server last told the header (set once it answered).
  const link = page.locator(`#site-header #nav-messages[data-unread="${n}"]`);
  await link.waitFor();
  const badge = page.locator('#site-header #nav-unread');
  if (n) assert.equal(await badge.textContent(), String(n));
  else assert.equal(await badge.count(), 0);
  if (name) assert.equal((await link.textContent()).replace(/\s+/g, ' ').trim().startsWith(name), true, await link.textContent());
}

/** A visitor's header has no messages link (and asked nothing for one). */
async function noMessagesLink(page) {
  // The session is known (no user): the login link is there.
  await page.locator('#site-header .nav-login').waitFor();
  assert.equal(await page.locator('#nav-messages').count(), 0);
}

async function noMarkupFromMessages(page) {
  const found = await page.evaluate(() => ({
    pwned: window.pwned,
    made: document.querySelectorAll('#message-list script, #message-list img, #message-list a, '
      + '#conversation-list script, #conversation-list img[src="x"], .conversation-preview a').length,
  }));
  assert.deepEqual(found, { pwned: undefined, made: 0 });
}

test('ask the host, read and answer, and reach it from the order', async () => {
  const host = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'host' });
  const guest = await chrome.visitor(app.base, { viewport: MOBILE, name: 'guest' });
  await apiRegister(host, app, { mobile: newMobile(), password: 'host-password1' });
  await apiVerify(host, { idCard: idCard('19800101', '321') });
  const title = '后海 胡同小院';
  const houseId = await apiPublish(host, { title });
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-password1' });

  // The guest asks from the house's page, on a phone.
  await guest.goto(`/detail.html?id=${houseId}`);
  await guest.locator('#house-title', { hasText: title }).waitFor();
  await guest.getByLabel('有问题？问问房东').fill(HOSTILE);
  await guest.getByRole('button', { name: '联系房东' }).click();
  await guest.waitForURL(/conversation\.html\?id=\d+/);
  const conversationId = Number(new URL(guest.url()).searchParams.get('id'));
  const mine = guest.locator('#message-list .message-mine .message-text');
  await mine.first().waitFor();
  assert.equal(await mine.first().textContent(), HOSTILE, 'shown as typed');
  await noMarkupFromMessages(guest);
  await fitsPhone(guest, 'conversation');
  await shot(guest, 'messages-01-conversation-mobile');

  // The guest's own message is no unread one: no badge in the header.
  await guest.goto(`/detail.html?id=${houseId}`);
  await guest.locator('#house-title', { hasText: title }).waitFor();
  await unreadBadge(guest, 0);

  // The host sees one unread message in every page's header, on "my" page
  // and in the list.
  await host.goto(`/detail.html?id=${houseId}`);
  await unreadBadge(host, 1);
  await host.goto('/my.html');
  await unreadBadge(host, 1);
  await host.locator('#my-messages .badge', { hasText: '1' }).waitFor();
  await host.locator('#my-messages').click();
  await host.waitForURL(/messages\.html/);
  const row = host.locator(`[data-conversation="${conversationId}"]`);
  await row.locator('.badge', { hasText: '1' }).waitFor();
  assert.equal(await row.locator('.conversation-preview').textContent(), HOSTILE);
  await noMarkupFromMessages(host);
  await shot(host, 'messages-02-list-desktop');
  await row.getByRole('link').click();
  await host.waitForURL(/conversation\.html/);
  const theirs = host.locator('#message-list .message-theirs .message-text');
  await theirs.first().waitFor();
  assert.equal(await theirs.first().textContent(), HOSTILE);
  await noMarkupFromMessages(host);
  // Read: the header's badge clears on this page and stays cleared.
  await unreadBadge(host, 0);
  await host.getByLabel('消息').fill('可以，院里有两个车位。\n<b>欢迎</b>');
  await host.getByRole('button', { name: '发送' }).click();
  await host.locator('#message-list .message-mine .message-text', { hasText: '<b>欢迎</b>' }).waitFor();
  await shot(host, 'messages-03-conversation-desktop');
  // Read: the badge is gone.
  await host.goto('/messages.html');
  await row.waitFor();
  assert.equal(await row.locator('.badge').count(), 0);
  await unreadBadge(host, 0);
  // The answer is the guest's unread message, shown on a page of no
  // conversation, in English too; the link leads to the list.
  await guest.goto('/search.html?lang=en');
  await unreadBadge(guest, 1, 'Messages (1 unread)');
  await guest.locator('#nav-messages').click();
  await guest.waitForURL(/messages\.html/);
  await guest.locator(`[data-conversation="${conversationId}"] .badge`, { hasText: '1' }).waitFor();

  // The guest books; the order leads to the same conversation, with the answer.
  const sd = dateAfter(20);
  await apiBook(guest, houseId, sd, dateAfter(22));
  await guest.goto('/orders.html?lang=zh-CN');
  await guest.getByRole('link', { name: '联系房东' }).click();
  await guest.waitForURL(new RegExp(`conversation\\.html\\?id=${conversationId}$`));
  await guest.locator('#message-list .message-theirs .message-text', { hasText: '两个车位' }).waitFor();
  assert.equal(await guest.locator('#message-list .message-theirs b').count(), 0, 'markup shown as text');
  await guest.goto('/messages.html');
  await guest.locator('#conversation-list').waitFor();
  await fitsPhone(guest, 'messages');
  await shot(guest, 'messages-04-list-mobile');
  // The host reaches it from their order list too.
  await host.goto('/lorders.html');
  await host.getByRole('link', { name: '联系房客' }).click();
  await host.waitForURL(new RegExp(`conversation\\.html\\?id=${conversationId}$`));
  assertNoProblems(host, guest);
});

test('the pages in English', async () => {
  const page = await chrome.visitor(app.base, { viewport: MOBILE, name: 'en' });
  // A visitor's pages have no messages link and never ask for a count.
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/conversations/unread')) asked.push(r.url()); });
  await page.goto('/index.html?lang=en');
  await noMessagesLink(page);
  assert.deepEqual(asked, []);
  await apiRegister(page, app, { mobile: newMobile(), password: 'english-pass1' });
  await page.goto('/messages.html?lang=en');
  await page.getByRole('heading', { name: 'Messages' }).waitFor();
  await page.getByText('No messages yet.', { exact: false }).waitFor();
  await unreadBadge(page, 0);
  assert.equal(asked.length, 1, 'one request for the badge per page view');
  await shot(page, 'messages-05-empty-en');
  assertNoProblems(page);
});
