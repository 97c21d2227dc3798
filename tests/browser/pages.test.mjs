// Every page as a visitor meets it: loads without script errors, labelled
// form controls, the favicon, the skip link, the 404 page, the not-found
// house, and infinite scroll on search (pages of 10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, makePng, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish, apiUpload, waitFor } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser();

/** Form controls without an accessible label. */
const unlabelled = (page) => page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 120)));

test('public pages load, are labelled and keyboard-reachable', async () => {
  const page = await chrome.visitor(app.base, { viewport: MOBILE, name: 'anonymous' });
  for (const [path, ready] of [
    ['/', '#search-form'], ['/index.html', '#search-form'], ['/search.html', '#results-status'],
    ['/login.html', '#login-form'], ['/register.html', '#register-form'],
    ['/detail.html?id=999999', '.state-empty'], ['/detail.html', '.state-empty'],
  ]) {
    await page.goto(path);
    await page.locator(ready).waitFor();
    await page.locator('.site-header .nav-list').waitFor();
    assert.deepEqual(await unlabelled(page), [], `${path}: every control has a label`);
    assert.ok((await page.title()).includes('爱家租房'), `${path}: a title`);
    assert.equal(await page.locator('link[rel=icon]').count() > 0, true, `${path}: a favicon`);
    // No horizontal scrolling on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${path}: fits a 390 px screen (overflow ${overflow}px)`);
  }
  await page.goto('/detail.html?id=999999');
  await page.getByText('房源不存在或已下架').waitFor();
  await shot(page, 'pages-01-house-not-found');

  // Keyboard: the first Tab reaches the skip link, which is visible when focused.
  await page.goto('/login.html');
  await page.locator('#login-form').waitFor();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => ({ cls: document.activeElement.className, outline: getComputedStyle(document.activeElement).outlineStyle }));
  assert.equal(focused.cls, 'skip-link');
  assert.notEqual(focused.outline, 'none', 'focus is visible');

  // The captcha uuid: crypto.randomUUID in a secure context, getRandomValues elsewhere.
  const uuids = await page.evaluate(async () => {
    const { uuid4 } = await import('/js/ui.js');
    const secure = [uuid4(), uuid4()];
    Object.defineProperty(window, 'isSecureContext', { value: false, configurable: true });
    const fallback = [uuid4(), uuid4()];
    return [...secure, ...fallback];
  });
  for (const u of uuids) assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(new Set(uuids).size, 4);

  const fav = await page.request.get('/favicon.svg');
  assert.equal(fav.status(), 200);
  assert.match(fav.headers()['content-type'], /image\/svg\+xml/);
  assert.equal((await page.request.get('/favicon.ico')).status(), 200);

  // The footer switches to English and back (all strings come from i18n.js).
  await page.goto('/search.html?aid=2');
  await page.locator('.site-footer').getByRole('link', { name: 'English' }).click();
  await page.waitForURL(/lang=en/);
  await page.getByRole('button', { name: 'Apply' }).waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.getByLabel('District').inputValue(), '2', 'the other query parameters stay');
  await page.goto('/login.html');
  await page.getByRole('heading', { name: 'Log in to iHome' }).waitFor();
  assert.deepEqual(await unlabelled(page), []);
  await shot(page, 'pages-00-login-english');
  await page.locator('.site-footer').getByRole('link', { name: '中文' }).click();
  await page.getByRole('heading', { name: '登录爱家' }).waitFor();

  const resp = await page.goto('/no-such-page.html');
  assert.equal(resp.status(), 404);
  await page.getByRole('heading', { name: '页面不存在' }).waitFor();
  await page.locator('.site-header .nav-list').waitFor();
  await shot(page, 'pages-02-404');

  // Pages that need a session send the visitor to login with ?next=.
  for (const p of ['my', 'profile', 'auth', 'myhouse', 'newhouse', 'orders', 'lorders']) {
    await page.goto(`/${p}.html`);
    await page.waitForURL(new RegExp(`/login\\.html\\?next=%2F${p}\\.html$`));
  }
  await page.goto('/booking.html?id=1');
  await page.waitForURL(/\/login\.html\?next=%2Fbooking\.html%3Fid%3D1$/);
  assertNoProblems(page);
});

test('search: filters, sort and infinite scroll in pages of 10', async () => {
  const owner = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'owner' });
  await apiRegister(owner, app, { mobile: newMobile(), password: 'owner-password' });
  await apiVerify(owner, { idCard: idCard('19791231', '789') });
  const ids = [];
  for (let i = 1; i <= 23; i++) {
    ids.push(await apiPublish(owner, { title: `海淀房源 ${String(i).padStart(2, '0')}`, price: String(100 + i), area_id: 4 }));
  }
  await apiUpload(owner, ids[22], makePng(300, 200, 10));
  await apiUpload(owner, ids[21], makePng(300, 200, 200));
  await apiPublish(owner, { title: '东城的房子', area_id: 1 });

  const page = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'searcher' });
  await page.goto('/search.html?aid=4');
  await page.locator('.house-card').first().waitFor();
  assert.equal(await page.getByLabel('区域').inputValue(), '4', 'the area from the URL is selected');
  const count = () => page.locator('.house-card').count();
  await waitFor(async () => (await count()) >= 10, { what: 'the first page' });
  assert.equal(await page.locator('.house-card', { hasText: '东城的房子' }).count(), 0, 'only the chosen area');
  assert.match(await page.locator('.house-card').first().innerText(), /海淀房源 23/, 'newest first');
  await shot(page, 'pages-03-search-page1');
  for (let i = 0; i < 10 && (await count()) < 23; i++) {
    await page.locator('#sentinel').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
  }
  assert.equal(await count(), 23, 'all three pages were loaded by scrolling');
  await page.locator('#results-status', { hasText: '已经到底了' }).waitFor();
  const titles = await page.locator('.house-title').allInnerTexts();
  assert.equal(new Set(titles).size, 23, 'no house twice');

  await page.getByLabel('排序').selectOption({ label: '价格 低→高' });
  await waitFor(async () => /海淀房源 01/.test(await page.locator('.house-card').first().innerText()), { what: 'price-inc order' });
  assert.match(page.url(), /sk=price-inc/, 'the URL keeps the filters');
  assert.match(await page.locator('.house-card').first().innerText(), /¥101/);

  await page.getByLabel('区域').selectOption({ label: '延庆区' });
  await page.locator('.state-empty', { hasText: '没有符合条件的房源' }).waitFor();
  await shot(page, 'pages-04-search-empty');

  // A failing request shows the server's errmsg and a retry; the retry loads the rest.
  // The route is in place before the page loads: the page may ask for page 2
  // on its own as soon as page 1 renders (the sentinel is near the fold), so
  // routing after the first page would race that request.
  let failed = 0;
  await page.route(/\/api\/v1\.0\/houses\?.*p=2/, (route) => {
    failed += 1;
    return route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ errno: '4001', errmsg: '数据库查询出错' }) });
  });
  await page.goto('/search.html?aid=4');
  await waitFor(async () => (await count()) >= 10, { what: 'the first page again' });
  await page.locator('#sentinel').scrollIntoViewIfNeeded();
  await page.locator('#results-status').getByRole('alert').getByText('数据库查询出错').waitFor();
  await page.waitForTimeout(1000);
  assert.equal(failed, 1, 'no retry storm after an error');
  await shot(page, 'pages-03b-search-error', { fullPage: false });
  await page.unroute(/\/api\/v1\.0\/houses\?.*p=2/);
  await page.locator('#results-status').getByRole('button', { name: '重试' }).click();
  await waitFor(async () => (await count()) >= 20, { what: 'page 2 after the retry' });

  // A reply that is not JSON at all (a proxy's error page) still gives a message.
  await owner.route('**/api/v1.0/user/orders*', (route) => route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>Bad Gateway</h1>' }));
  await owner.goto('/orders.html');
  await owner.getByRole('alert').getByText('服务器返回了无法识别的响应（HTTP 502）').waitFor();
  await owner.unroute('**/api/v1.0/user/orders*');

  // The same search on a phone.
  await page.setViewportSize(MOBILE);
  await page.goto('/search.html?aid=4&sk=price-des');
  await page.locator('.house-card').first().waitFor();
  assert.match(await page.locator('.house-card').first().innerText(), /¥123/);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `search fits a phone (overflow ${overflow}px)`);
  await shot(page, 'pages-04b-search-mobile', { fullPage: false });
  await page.setViewportSize(DESKTOP);

  // The index carousel shows the houses that have a cover.
  await page.goto('/');
  await waitFor(async () => (await page.locator('#track .slide').count()) === 2, { what: 'two slides' });
  await page.locator('#track img').first().evaluate((i) => i.decode());
  await shot(page, 'pages-05-index-carousel');
  assertNoProblems(owner, page);
});
