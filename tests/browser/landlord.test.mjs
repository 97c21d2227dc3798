// API v1.1 end to end in the browser (issues 15 and 17; its routes and
// fields in openapi.yaml): the landlord edits a listing, reorders and deletes
// photos, blocks and unblocks nights and unpublishes; a guest rates stays,
// and ratings, the rating sort and the price/guest filters work on the real
// server. contract.test.mjs checks the pages' side of the same contract
// without the server.
//
// The server has the v1.1 routes (issue 17), so run.sh always runs these;
// ENABLED = false would skip them again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, makePng, dateAfter, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish, apiUpload, apiBook, waitFor } from './lib/flows.mjs';

const ENABLED = true;
const SKIP = !ENABLED && 'API v1.1 browser tests switched off (ENABLED in landlord.test.mjs)';

const { app, chrome } = appAndBrowser({ enabled: ENABLED });

const srcs = (loc) => loc.evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src')));
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

/** The raw envelope and status of an API call made with `page`'s cookies. */
async function call(page, method, path, data) {
  const resp = await page.request.fetch('/api/v1.0' + path, { method, data });
  return { status: resp.status(), ...(await resp.json()) };
}

/** Guest books, landlord accepts, the stay is moved into the past: ready for a review. */
async function finishedStay(app, guest, landlord, houseId, from, to) {
  const { order_id: id } = await apiBook(guest, houseId, dateAfter(from), dateAfter(to));
  const acc = await call(landlord, 'PUT', `/orders/${id}/status`, { action: 'accept' });
  assert.equal(acc.errno, '0', 'accept');
  app.db('UPDATE orders SET start_date = ?, end_date = ? WHERE id = ?', [dateAfter(from - 40), dateAfter(to - 40), Number(id)]);
  return id;
}

test('landlord: edit, photos, blocked nights, unpublish (real API v1.1)', { skip: SKIP }, async () => {
  const landlord = await chrome.visitor(app.base, { viewport: MOBILE, name: 'landlord' });
  const guest = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'guest' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-v11-1' });
  await apiVerify(landlord, { idCard: idCard('19830404', '444') });
  const title = '丰台 花园两居';
  const id = await apiPublish(landlord, { title, price: '200', area_id: 6, capacity: 3, facility: [1, 2, 3] });
  const urls = [];
  for (const hue of [20, 120, 220]) urls.push((await apiUpload(landlord, id, makePng(240, 160, hue))).url);
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-v11-pw1' });
  await apiBook(guest, id, dateAfter(10), dateAfter(12)); // WAIT_ACCEPT, 2 × ¥200

  // ---- my houses → the house's page
  await landlord.goto('/myhouse.html');
  const card = landlord.locator(`#my-houses .house-card[data-house="${id}"]`);
  await card.getByRole('link', { name: `管理房源：${title}` }).click();
  await landlord.waitForURL(new RegExp(`newhouse\\.html\\?id=${id}$`));
  await landlord.locator('#pub-state', { hasText: '已发布' }).waitFor();
  const photos = landlord.locator('#uploaded .photo-item img');
  await waitFor(async () => (await photos.count()) === 3, { what: 'three photos with ids (HouseDetail.images)' });
  assert.deepEqual(await srcs(photos), urls, 'images in upload order, the same URLs as img_urls');
  await shot(landlord, 'landlord-01-manage');

  // ---- reorder: the third photo becomes the cover, everywhere
  await landlord.getByRole('button', { name: '上移第 3 张图片' }).click();
  await landlord.getByRole('button', { name: '上移第 2 张图片' }).click();
  await landlord.getByRole('button', { name: '保存顺序' }).click();
  await landlord.locator('#photos-alert', { hasText: '图片顺序已保存' }).waitFor();
  await landlord.reload();
  await waitFor(async () => (await srcs(photos)).join() === [urls[2], urls[0], urls[1]].join(), { what: 'the saved order after a reload' });
  await guest.goto(`/detail.html?id=${id}`);
  await guest.locator('#house-title').waitFor();
  assert.deepEqual(await srcs(guest.locator('.gallery-track img')), [urls[2], urls[0], urls[1]], 'the detail gallery follows');
  await guest.goto('/search.html?aid=6');
  assert.equal(await guest.locator(`.house-card[data-house="${id}"] .house-cover img`).getAttribute('src'), urls[2], 'the search card shows the new cover');

  // ---- delete one (after a confirmation): gone from the page, the detail and the image store
  await landlord.getByRole('button', { name: '删除第 2 张图片' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '删除' }).click();
  await waitFor(async () => (await photos.count()) === 2, { what: 'two photos left' });
  await landlord.reload();
  await waitFor(async () => (await srcs(photos)).join() === [urls[2], urls[1]].join(), { what: 'two photos after a reload' });
  await guest.goto(`/detail.html?id=${id}`);
  await guest.locator('#house-title').waitFor();
  assert.deepEqual(await srcs(guest.locator('.gallery-track img')), [urls[2], urls[1]]);
  await waitFor(async () => (await guest.request.get(urls[0])).status() === 404, { what: 'the deleted file removed from the image store' });

  // ---- edit every field; the detail and search change at once, the existing order keeps its amount
  const form = landlord.locator('#house-form');
  assert.equal(await form.getByLabel('房屋标题').inputValue(), title);
  assert.equal(await form.getByLabel('每晚价格（元）').inputValue(), '200');
  assert.equal(await form.getByLabel('所在区域').inputValue(), '6');
  await form.getByLabel('房屋标题').fill('丰台 花园两居 新装修');
  await form.getByLabel('每晚价格（元）').fill('260.5');
  await form.getByLabel('宜住人数').fill('4');
  await form.getByLabel('热水淋浴', { exact: true }).uncheck();
  await form.getByLabel('洗衣机', { exact: true }).check();
  await form.getByRole('button', { name: '保存修改' }).click();
  await landlord.locator('#house-alert', { hasText: '房源信息已保存' }).waitFor();
  await landlord.getByRole('heading', { name: '管理房源：丰台 花园两居 新装修' }).waitFor();
  await guest.goto(`/detail.html?id=${id}`);
  await guest.locator('#house-title', { hasText: '丰台 花园两居 新装修' }).waitFor();
  assert.match(await guest.locator('.price-line').first().innerText(), /¥260\.50/);
  assert.match(await guest.locator('.facts').innerText(), /宜住 4 人/);
  const facilities = await guest.locator('.facility-list').innerText();
  assert.match(facilities, /洗衣机/);
  assert.doesNotMatch(facilities, /热水淋浴/);
  await guest.goto('/search.html?aid=6');
  const edited = await guest.locator(`.house-card[data-house="${id}"]`).innerText();
  assert.match(edited, /丰台 花园两居 新装修/);
  assert.match(edited, /¥260\.50/);
  await guest.goto('/orders.html');
  assert.match(await guest.locator('.order').first().innerText(), /¥400/, 'the existing order keeps its price');

  // Invalid fields are refused as on publishing (the server's message is shown).
  await form.getByLabel('宜住人数').fill('101');
  await form.getByRole('button', { name: '保存修改' }).click();
  await landlord.locator('#house-alert.alert-error').waitFor();
  await form.getByLabel('宜住人数').fill('4');

  // ---- block nights: unavailable for guests, out of date searches, not bookable
  await landlord.getByLabel('第一晚').fill(dateAfter(20));
  await landlord.getByLabel('最后一晚').fill(dateAfter(22));
  await landlord.getByRole('button', { name: '关闭这些夜晚' }).click();
  await landlord.locator('#blocked-list li[data-start]', { hasText: '3 晚' }).waitFor();
  await waitFor(async () => (await landlord.locator('#block-calendar .cal-day.is-blocked').count()) === 3, { what: '3 closed nights' });
  await shot(landlord, 'landlord-02-blocked');
  await guest.goto(`/detail.html?id=${id}`);
  await waitFor(async () => (await guest.locator('#calendar .cal-day.is-unavailable').count()) === 3, { what: 'the guest sees 3 unavailable nights' });
  await guest.goto(`/search.html?aid=6&sd=${dateAfter(20)}&ed=${dateAfter(21)}`);
  await guest.locator('.state-empty', { hasText: '没有符合条件的房源' }).waitFor();
  await guest.goto(`/search.html?aid=6&sd=${dateAfter(25)}&ed=${dateAfter(26)}`);
  await guest.locator(`.house-card[data-house="${id}"]`).waitFor();
  await guest.goto(`/booking.html?id=${id}&sd=${dateAfter(21)}&ed=${dateAfter(23)}`);
  await guest.locator('#booking-alert', { hasText: '所选日期中有房东关闭的夜晚' }).waitFor();
  const refused = await call(guest, 'POST', '/orders', { house_id: id, start_date: dateAfter(21), end_date: dateAfter(23) });
  assert.equal(refused.errno, '4004', 'a blocked night cannot be booked');

  // Booked nights can't be blocked: known to the page, and the server says 4004 when the page didn't know.
  await landlord.getByLabel('第一晚').fill(dateAfter(10));
  await landlord.getByLabel('最后一晚').fill(dateAfter(10));
  await landlord.getByRole('button', { name: '关闭这些夜晚' }).click();
  await landlord.locator('#block-alert', { hasText: '所选夜晚中有已被预订的，不能关闭' }).waitFor();
  await apiBook(guest, id, dateAfter(30), dateAfter(31)); // after the landlord's page loaded
  await landlord.getByLabel('第一晚').fill(dateAfter(30));
  await landlord.getByLabel('最后一晚').fill(dateAfter(30));
  const [resp] = await Promise.all([
    landlord.waitForResponse((r) => r.url().endsWith(`/api/v1.0/houses/${id}/blocked`)),
    landlord.getByRole('button', { name: '关闭这些夜晚' }).click(),
  ]);
  const body = await resp.json();
  assert.equal(body.errno, '4004');
  assert.equal(resp.status(), 409);
  await landlord.locator('#block-alert', { hasText: body.errmsg }).waitFor();

  // Reopen: bookable and searchable again.
  await landlord.locator('#blocked-list').getByRole('button', { name: /^重新开放 / }).click();
  await landlord.locator('#blocked-list', { hasText: '没有关闭的夜晚' }).waitFor();
  await guest.goto(`/search.html?aid=6&sd=${dateAfter(20)}&ed=${dateAfter(21)}`);
  await guest.locator(`.house-card[data-house="${id}"]`).waitFor();

  // ---- unpublish: gone for guests (detail 4002, search, index, booking), orders go on, marked for the owner
  await landlord.getByRole('button', { name: '下架房源' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '下架房源' }).click();
  await landlord.locator('#pub-state', { hasText: '已下架' }).waitFor();
  await guest.goto(`/detail.html?id=${id}`);
  await guest.getByText('房源不存在或已下架').waitFor();
  await guest.goto('/search.html?aid=6');
  await guest.locator('#results-status', { hasText: /没有符合条件的房源|已经到底了/ }).waitFor();
  assert.equal(await guest.locator(`.house-card[data-house="${id}"]`).count(), 0, 'not in search');
  const index = await call(guest, 'GET', '/house/index');
  assert.ok(!index.data.some((h) => Number(h.house_id) === Number(id)), 'not on the index');
  assert.equal((await call(guest, 'POST', '/orders', { house_id: id, start_date: dateAfter(40), end_date: dateAfter(41) })).errno, '4002', 'not bookable');
  await guest.goto('/orders.html');
  assert.equal(await guest.locator('.order .badge', { hasText: '待接单' }).count(), 2, 'existing orders go on');
  await landlord.goto('/myhouse.html');
  await card.locator('.house-flag', { hasText: '已下架' }).waitFor();
  await shot(landlord, 'landlord-03-myhouse-unpublished');
  await landlord.goto(`/detail.html?id=${id}`);
  await landlord.locator('#unpublished-note').waitFor();
  await landlord.getByRole('link', { name: '管理房源' }).click();
  await landlord.getByRole('button', { name: '重新发布' }).click();
  await landlord.locator('#pub-state', { hasText: '已发布' }).waitFor();
  await guest.goto('/search.html?aid=6');
  await guest.locator(`.house-card[data-house="${id}"]`).waitFor();
  assert.ok((await overflow(landlord)) <= 0);
  assertNoProblems(landlord, guest);
});

test('guest: star ratings, the rating sort, price and guest filters (real API v1.1)', { skip: SKIP }, async () => {
  const landlord = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'landlord' });
  const guest = await chrome.visitor(app.base, { viewport: MOBILE, name: 'guest' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-v11-2' });
  await apiVerify(landlord, { idCard: idCard('19840505', '555') });
  const cheap = await apiPublish(landlord, { title: '平谷 小木屋', price: '100', area_id: 12, capacity: 2 });
  const mid = await apiPublish(landlord, { title: '平谷 果园小楼', price: '300', area_id: 12, capacity: 6 });
  const big = await apiPublish(landlord, { title: '平谷 大院', price: '500', area_id: 12, capacity: 10 });
  for (const [h, hue] of [[cheap, 40], [mid, 140], [big, 240]]) await apiUpload(landlord, h, makePng(240, 160, hue));
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-v11-pw2' });
  const o1 = await finishedStay(app, guest, landlord, cheap, 2, 4);
  const o2 = await finishedStay(app, guest, landlord, mid, 5, 6);
  const o3 = await finishedStay(app, guest, landlord, big, 7, 8);

  // The server requires a rating 1–5 (the page never sends without one).
  for (const bad of [{ comment: '没有评分' }, { comment: '六星', rating: 6 }, { comment: '零星', rating: 0 }, { comment: '半星', rating: 2.5 }]) {
    const r = await call(guest, 'PUT', `/orders/${o3}/comment`, bad);
    assert.equal(r.errno, '4103', `comment ${JSON.stringify(bad)} is 4103`);
  }

  // ---- rate two stays on the orders page: 3 stars with the keyboard, 5 with the pointer
  await guest.goto('/orders.html');
  await guest.locator(`.order[data-order="${o1}"]`).getByRole('button', { name: '发表评价' }).click();
  let dlg = guest.locator('dialog');
  await dlg.getByRole('radio', { name: '1 星' }).focus();
  await guest.keyboard.press('Space');
  await guest.keyboard.press('ArrowRight');
  await guest.keyboard.press('ArrowRight');
  assert.equal(await dlg.getByRole('radio', { name: '3 星' }).isChecked(), true);
  await dlg.getByLabel('你的评价').fill('还行，有点吵');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await guest.locator(`.order[data-order="${o1}"] .badge`, { hasText: '已完成' }).waitFor();
  await guest.locator(`.order[data-order="${o2}"]`).getByRole('button', { name: '发表评价' }).click();
  dlg = guest.locator('dialog');
  await dlg.locator('label', { hasText: '5 星' }).click();
  await dlg.getByLabel('你的评价').fill('果园太美了');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await guest.locator(`.order[data-order="${o2}"] .badge`, { hasText: '已完成' }).waitFor();

  // ---- the detail page: average and count in the header, stars on the comment
  await guest.goto(`/detail.html?id=${cheap}`);
  await guest.locator('#house-title').waitFor();
  assert.equal(await guest.locator('#house-rating .visually-hidden').textContent(), '3.0 分（满分 5 分），1 条评分');
  assert.equal(await guest.locator('#comments li').first().locator('.rating .visually-hidden').textContent(), '评分：3 星（满分 5 星）');
  await shot(guest, 'landlord-10-detail-rated');
  await guest.goto(`/detail.html?id=${big}`);
  await guest.locator('#house-rating', { hasText: '暂无评分' }).waitFor();

  // ---- search: sort by rating (unrated last), stars on the cards
  await guest.goto('/search.html?aid=12&sk=rating');
  await guest.locator('#results-status', { hasText: '已经到底了' }).waitFor();
  const order = await guest.locator('.house-card').evaluateAll((cards) => cards.map((c) => Number(c.dataset.house)));
  assert.deepEqual(order, [mid, cheap, big].map(Number), 'best rated first, unrated last');
  assert.match(await guest.locator(`.house-card[data-house="${mid}"] .rating`).innerText(), /5\.0/);
  assert.equal(await guest.locator(`.house-card[data-house="${big}"] .rating`).count(), 0);
  await shot(guest, 'landlord-11-search-by-rating');

  // ---- price range (yuan, inclusive, decimals) and guests
  const listed = async (query) => {
    await guest.goto('/search.html?aid=12&' + query);
    await guest.locator('#results-status', { hasText: /已经到底了|没有符合条件的房源/ }).waitFor();
    return (await guest.locator('.house-card').evaluateAll((cards) => cards.map((c) => Number(c.dataset.house)))).sort((a, b) => a - b);
  };
  const ids = (...hs) => hs.map(Number).sort((a, b) => a - b);
  assert.deepEqual(await listed('min_price=200&max_price=400'), ids(mid));
  assert.deepEqual(await listed('min_price=100&max_price=100'), ids(cheap), 'inclusive');
  assert.deepEqual(await listed('max_price=99.99'), []);
  assert.deepEqual(await listed('min_price=300.01'), ids(big));
  assert.deepEqual(await listed('guests=6'), ids(mid, big));
  assert.deepEqual(await listed('guests=7&max_price=400'), []);
  // The same through the form.
  await guest.getByLabel('入住人数').fill('');
  await guest.getByLabel('最低价（元/晚）').fill('250');
  await guest.getByLabel('最高价（元/晚）').fill('');
  await guest.getByRole('button', { name: '筛选' }).click();
  await waitFor(async () => (await guest.locator('.house-card').count()) === 2, { what: 'two houses from ¥250' });

  // A value the page lets through from the URL but the server refuses: its 4103 message is shown.
  const [resp] = await Promise.all([
    guest.waitForResponse((r) => r.url().includes('/api/v1.0/houses?')),
    guest.goto('/search.html?aid=12&guests=500'),
  ]);
  assert.equal(resp.status(), 400);
  const refused = await resp.json();
  assert.equal(refused.errno, '4103');
  await guest.locator('#filter-alert', { hasText: refused.errmsg }).waitFor();

  // ---- the landlord's list and the index cards show the ratings too
  await landlord.goto('/myhouse.html');
  assert.match(await landlord.locator(`.house-card[data-house="${mid}"] .rating .visually-hidden`).textContent(), /^5\.0 分（满分 5 分），1 条评分$/);
  await guest.goto('/');
  await guest.locator(`#latest-list .house-card[data-house="${mid}"] .rating`).waitFor();
  assertNoProblems(landlord, guest);
});
