// The pages' side of API v1.1 (issues 15 and 17), checked against the
// contract in openapi.yaml (the v1.1 routes and fields) with the new fields and
// routes played in the browser (lib/v11stub.mjs) on top of the real app: the
// pages show what v1.1 sends (ratings, blocked nights, publish state, photo
// ids) and send what v1.1 expects (filters, the review's rating, the
// landlord's edits), accessibly and on a phone. Runs with or without the
// server's v1.1; landlord.test.mjs checks the real thing end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, makePng, dateAfter, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish, apiUpload, apiBook, waitFor } from './lib/flows.mjs';
import { newFake, fakeHouse, stubV11, callsTo } from './lib/v11stub.mjs';

const { app, chrome } = appAndBrowser();

const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

test('v1.1 contract: ratings, price/guest filters, sort by rating, blocked nights for guests', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'landlord' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-v11a' });
  await apiVerify(landlord, { idCard: idCard('19800101', '111') });
  const rated = await apiPublish(landlord, { title: '评分很高的房子', price: '150', area_id: 5, capacity: 4 });
  await apiUpload(landlord, rated, makePng(300, 200, 30));
  const unrated = await apiPublish(landlord, { title: '还没有评分的房子', price: '90', area_id: 5 });
  await apiUpload(landlord, unrated, makePng(300, 200, 90));

  const fake = newFake();
  const f = fakeHouse(fake, rated, {
    rating: 4.5, rating_count: 12,
    blocked: [{ start_date: dateAfter(3), end_date: dateAfter(5) }],
    comments: [
      { user_name: '王五', comment: '很干净，推荐', ctime: '2026-10-01 10:00:00', rating: 4 },
      { user_name: '赵六', comment: '评分出现以前的评价', ctime: '2026-01-01 10:00:00', rating: null },
    ],
  });
  fakeHouse(fake, unrated, { rating: null, rating_count: 0 });
  fake.searchError = (q) => (q.max_price === '1' ? { errno: '4103', errmsg: '最高价至少 1 元' } : null);

  const guest = await chrome.visitor(app.base, { viewport: MOBILE, name: 'guest' });
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-v11a-pw' });
  await stubV11(guest, fake);

  // ---- search cards: stars, average and count, with one text alternative; nothing when unrated
  await guest.goto('/search.html?aid=5');
  const ratedCard = guest.locator(`.house-card[data-house="${rated}"]`);
  await ratedCard.waitFor();
  assert.match(await ratedCard.locator('.rating').innerText(), /4\.5/);
  assert.equal(await ratedCard.locator('.rating .visually-hidden').textContent(), '4.5 分（满分 5 分），12 条评分');
  assert.equal(await guest.locator(`.house-card[data-house="${unrated}"] .rating`).count(), 0, 'no stars without a rating');
  assert.ok((await overflow(guest)) <= 0, 'search fits a phone');
  await shot(guest, 'contract-01-search-ratings-mobile', { fullPage: false });

  // ---- the filters: checked on the page with clear messages, kept in the URL, sent as the API names them
  await guest.getByLabel('最低价（元/晚）').fill('300');
  await guest.getByLabel('最高价（元/晚）').fill('100');
  await guest.getByRole('button', { name: '筛选' }).click();
  await guest.locator('#filter-alert', { hasText: '最低价不能高于最高价' }).waitFor();
  assert.equal(await guest.getByLabel('最高价（元/晚）').getAttribute('aria-invalid'), 'true');
  await guest.getByLabel('最低价（元/晚）').fill('-5');
  await guest.getByRole('button', { name: '筛选' }).click();
  await guest.locator('#filter-alert', { hasText: '最低价需为 0–1000000 元的数字' }).waitFor();
  await guest.getByLabel('最低价（元/晚）').fill('100.5');
  await guest.getByLabel('最高价（元/晚）').fill('200');
  await guest.getByLabel('入住人数').fill('101');
  await guest.getByRole('button', { name: '筛选' }).click();
  await guest.locator('#filter-alert', { hasText: '入住人数需为 1–100 的整数' }).waitFor();
  await shot(guest, 'contract-02-search-filter-error', { fullPage: false });
  await guest.getByLabel('入住人数').fill('3');
  fake.calls.length = 0;
  await guest.getByLabel('排序').selectOption({ label: '评分最高' }); // submits the form
  await waitFor(() => callsTo(fake, 'GET', '/houses').length > 0, { what: 'the search request' });
  assert.deepEqual(callsTo(fake, 'GET', '/houses')[0].query, { aid: '5', sk: 'rating', min_price: '100.5', max_price: '200', guests: '3', p: '1' });
  await waitFor(() => /sk=rating/.test(guest.url()), { what: 'the URL' });
  const q = new URL(guest.url()).searchParams;
  assert.deepEqual([q.get('min_price'), q.get('max_price'), q.get('guests'), q.get('sk')], ['100.5', '200', '3', 'rating']);
  await ratedCard.waitFor();

  // The URL brings the filters back; the server's 4103 message is shown with the filters, no retry loop.
  await guest.goto('/search.html?aid=5&min_price=20&max_price=1&guests=2&sk=rating');
  assert.equal(await guest.getByLabel('最低价（元/晚）').inputValue(), '20');
  assert.equal(await guest.getByLabel('最高价（元/晚）').inputValue(), '1');
  assert.equal(await guest.getByLabel('入住人数').inputValue(), '2');
  assert.equal(await guest.getByLabel('排序').inputValue(), 'rating');
  await guest.locator('#filter-alert', { hasText: '最高价至少 1 元' }).waitFor();
  assert.equal(await guest.locator('#results-status').getByRole('button').count(), 0, 'no retry for a refused filter');

  // ---- the index card: guests and price range go to search.html
  await guest.goto('/');
  await guest.locator('#search-form').waitFor();
  await guest.locator('#latest-list .house-card .rating').first().waitFor();
  assert.ok((await overflow(guest)) <= 0, 'index fits a phone');
  await shot(guest, 'contract-03-index-mobile');
  await guest.locator('#search-form').getByLabel('入住人数').fill('0');
  await guest.locator('#search-form').getByRole('button', { name: '搜索' }).click();
  await guest.locator('#search-alert', { hasText: '入住人数需为 1–100 的整数' }).waitFor();
  await guest.locator('#search-form').getByLabel('入住人数').fill('2');
  await guest.locator('#search-form').getByLabel('最低价（元/晚）').fill('50');
  await guest.locator('#search-form').getByRole('button', { name: '搜索' }).click();
  await guest.waitForURL(/search\.html\?min_price=50&guests=2$/);
  assert.equal(await guest.getByLabel('入住人数').inputValue(), '2');

  // ---- the detail page: the rating in the header, stars per comment (none for older ones)
  await guest.goto(`/detail.html?id=${rated}`);
  await guest.locator('#house-title').waitFor();
  assert.equal(await guest.locator('#house-rating .visually-hidden').textContent(), '4.5 分（满分 5 分），12 条评分');
  const comments = guest.locator('#comments li');
  assert.equal(await comments.count(), 2);
  assert.equal(await comments.nth(0).locator('.rating .visually-hidden').textContent(), '评分：4 星（满分 5 星）');
  assert.equal(await comments.nth(1).locator('.rating').count(), 0, 'no stars on a comment from before ratings');
  // Blocked nights are unavailable, like booked ones, for a guest.
  const blockedDay = guest.locator(`#calendar .cal-day.is-booked`, { hasText: new RegExp(`^${Number(dateAfter(3).slice(8))}`) });
  await waitFor(async () => (await guest.locator('#calendar .cal-day.is-unavailable').count()) === 2, { what: '2 unavailable nights' });
  assert.equal(await guest.locator('#calendar .cal-day.is-blocked').count(), 0, 'a guest is not told why');
  assert.ok(await blockedDay.count() >= 1);
  assert.match(await guest.locator('#calendar .cal-day.is-unavailable').first().innerText(), /不可订/);
  await guest.locator('#calendar .cal-legend', { hasText: '不可预订' }).waitFor();
  assert.ok((await overflow(guest)) <= 0, 'detail fits a phone');
  await shot(guest, 'contract-04-detail-ratings-mobile');

  // The booking page treats them as taken (the server has the last word).
  await guest.goto(`/booking.html?id=${rated}&sd=${dateAfter(2)}&ed=${dateAfter(4)}`);
  await guest.locator('#booking-alert', { hasText: '所选日期中有房东关闭的夜晚，不可预订' }).waitFor();
  await shot(guest, 'contract-05-booking-blocked', { fullPage: false });

  // An unpublished house is 4002 for a guest: the page says it is gone.
  f.published = false;
  await guest.goto(`/detail.html?id=${rated}`);
  await guest.getByText('房源不存在或已下架').waitFor();
  f.published = true;

  // English: the new strings exist there too.
  await guest.goto(`/detail.html?id=${rated}&lang=en`);
  assert.equal(await guest.locator('#house-rating .visually-hidden').textContent(), '4.5 out of 5, 12 ratings');
  await guest.goto('/search.html?aid=5&lang=en');
  await guest.getByLabel('Min price (yuan/night)').waitFor();
  await guest.getByLabel('Guests').waitFor();
  assert.ok(await guest.getByRole('option', { name: 'Top rated' }).count() === 1);
  await guest.goto('/search.html?lang=zh-CN');
  await guest.locator('.house-card').first().waitFor();
  assertNoProblems(landlord, guest);
});

test('v1.1 contract: the landlord edits, reorders and deletes photos, blocks nights, unpublishes', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: MOBILE, name: 'landlord' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-v11b' });
  await apiVerify(landlord, { idCard: idCard('19810202', '222') });
  const title = '望京 三居 带阳台';
  const id = await apiPublish(landlord, { title, price: '188', area_id: 3, capacity: 5, facility: [1, 3, 15] });
  for (const hue of [10, 100, 200]) await apiUpload(landlord, id, makePng(240, 160, hue));

  const fake = newFake();
  const f = fakeHouse(fake, id, {
    rating: 4.8, rating_count: 3,
    booked: [{ start_date: dateAfter(8), end_date: dateAfter(10) }],
    conflict: [dateAfter(12)],
  });
  await stubV11(landlord, fake);

  // ---- my houses: the rating, a way to manage, and (below) the unpublished mark
  await landlord.goto('/myhouse.html');
  const card = landlord.locator(`#my-houses .house-card[data-house="${id}"]`);
  await card.waitFor();
  await card.locator('.rating').waitFor();
  await card.getByRole('link', { name: `管理房源：${title}` }).click();
  await landlord.waitForURL(new RegExp(`newhouse\\.html\\?id=${id}$`));
  await landlord.getByRole('heading', { name: `管理房源：${title}` }).waitFor();
  await landlord.locator('#pub-state', { hasText: '已发布' }).waitFor();
  await landlord.locator('#uploaded .photo-item').nth(2).waitFor();
  assert.ok((await overflow(landlord)) <= 0, 'the landlord page fits a phone');
  await shot(landlord, 'contract-10-manage-mobile');

  // ---- photos: reorder with the keyboard alone, focus follows the photo, then save
  const urls = await landlord.locator('#uploaded .photo-item img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src')));
  await landlord.getByRole('button', { name: '上移第 3 张图片' }).focus();
  await landlord.keyboard.press('Enter');
  assert.equal(await landlord.evaluate(() => document.activeElement.getAttribute('aria-label')), '上移第 2 张图片', 'focus stays on the moved photo');
  await landlord.keyboard.press('Enter');
  assert.equal(await landlord.evaluate(() => document.activeElement.getAttribute('aria-label')), '下移第 1 张图片', 'at the top, focus moves to the other button');
  await landlord.locator('#photo-live', { hasText: '第 2 张图片已移到第 1 位（封面）' }).waitFor();
  assert.equal(await landlord.locator('#uploaded .photo-item').first().locator('img').getAttribute('src'), urls[2]);
  assert.equal(await landlord.locator('#uploaded .photo-item').first().locator('.cover-tag').count(), 1, 'the first is the cover');
  await landlord.getByRole('button', { name: '保存顺序' }).click();
  await landlord.locator('#photos-alert', { hasText: '图片顺序已保存' }).waitFor();
  assert.deepEqual(callsTo(fake, 'PUT', `/houses/${id}/images/order`).map((c) => c.body), [{ image_ids: [102, 100, 101] }]);
  assert.equal(await landlord.getByRole('button', { name: '保存顺序' }).isDisabled(), true, 'nothing left to save');

  // Delete one, after a confirmation; cancelling deletes nothing.
  await landlord.getByRole('button', { name: '删除第 2 张图片' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '取消' }).click();
  assert.equal(callsTo(fake, 'DELETE', /\/images\//).length, 0);
  await landlord.getByRole('button', { name: '删除第 2 张图片' }).click();
  await landlord.locator('dialog', { hasText: '确定删除第 2 张图片吗' }).getByRole('button', { name: '删除' }).click();
  await waitFor(async () => (await landlord.locator('#uploaded .photo-item').count()) === 2, { what: 'two photos left' });
  assert.deepEqual(callsTo(fake, 'DELETE', /\/images\//).map((c) => c.path), [`/houses/${id}/images/100`]);
  assert.deepEqual(await landlord.locator('#uploaded .photo-item img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src'))), [urls[2], urls[1]]);

  // ---- blocked nights: picked on the calendar (first night, last night) or in the inputs
  const cal = landlord.locator('#block-calendar');
  await cal.locator(`[data-date="${dateAfter(1)}"]`).click();
  await cal.locator(`[data-date="${dateAfter(2)}"]`).click();
  assert.equal(await landlord.getByLabel('第一晚').inputValue(), dateAfter(1));
  assert.equal(await landlord.getByLabel('最后一晚').inputValue(), dateAfter(2));
  await landlord.locator('#block-summary', { hasText: '2 晚' }).waitFor();
  await landlord.getByLabel('第一晚').fill(dateAfter(20));
  await landlord.getByLabel('最后一晚').fill(dateAfter(22));
  await landlord.getByRole('button', { name: '关闭这些夜晚' }).click();
  await landlord.locator('#blocked-list li[data-start]').waitFor();
  assert.deepEqual(callsTo(fake, 'POST', `/houses/${id}/blocked`).map((c) => c.body), [{ start_date: dateAfter(20), end_date: dateAfter(23) }]);
  await waitFor(async () => (await cal.locator('.cal-day.is-blocked').count()) === 3, { what: '3 blocked nights, marked apart from booked ones' });
  assert.match(await landlord.locator('#blocked-list').innerText(), /3 晚/);
  await shot(landlord, 'contract-11-manage-blocked');

  // Booked nights can't be blocked: the page knows (no request); the server's 4004 is shown too.
  await landlord.getByLabel('第一晚').fill(dateAfter(8));
  await landlord.getByLabel('最后一晚').fill(dateAfter(9));
  await landlord.getByRole('button', { name: '关闭这些夜晚' }).click();
  await landlord.locator('#block-alert', { hasText: '所选夜晚中有已被预订的，不能关闭' }).waitFor();
  assert.equal(callsTo(fake, 'POST', `/houses/${id}/blocked`).length, 1);
  await landlord.getByLabel('第一晚').fill(dateAfter(12));
  await landlord.getByLabel('最后一晚').fill(dateAfter(12));
  await landlord.getByRole('button', { name: '关闭这些夜晚' }).click();
  await landlord.locator('#block-alert', { hasText: '所选日期已有订单，不能关闭' }).waitFor();

  // Reopen from the list of closed nights.
  await landlord.locator('#blocked-list').getByRole('button', { name: /^重新开放 / }).click();
  await landlord.locator('#blocked-list', { hasText: '没有关闭的夜晚' }).waitFor();
  assert.deepEqual(callsTo(fake, 'DELETE', `/houses/${id}/blocked`).map((c) => c.body), [{ start_date: dateAfter(20), end_date: dateAfter(23) }]);
  assert.equal(await cal.locator('.cal-day.is-blocked').count(), 0);

  // ---- edit: the form comes filled in (area found by name), every field goes back
  const form = landlord.locator('#house-form');
  assert.equal(await form.getByLabel('房屋标题').inputValue(), title);
  assert.equal(await form.getByLabel('每晚价格（元）').inputValue(), '188');
  assert.equal(await form.getByLabel('所在区域').inputValue(), '3');
  assert.equal(await form.getByLabel('宜住人数').inputValue(), '5');
  assert.equal(await form.getByLabel('电梯', { exact: true }).isChecked(), true);
  assert.equal(await form.getByLabel('热水淋浴', { exact: true }).isChecked(), false);
  await form.getByLabel('房屋标题').fill('');
  await form.getByRole('button', { name: '保存修改' }).click();
  await landlord.locator('#house-alert', { hasText: '请填写房屋标题' }).waitFor();
  await form.getByLabel('房屋标题').fill('望京 三居 新装修');
  await form.getByLabel('每晚价格（元）').fill('199.5');
  await form.getByLabel('热水淋浴', { exact: true }).check();
  await form.getByRole('button', { name: '保存修改' }).click();
  await landlord.locator('#house-alert', { hasText: '房源信息已保存' }).waitFor();
  assert.deepEqual(callsTo(fake, 'PUT', `/houses/${id}`).map((c) => c.body), [{
    title: '望京 三居 新装修', price: '199.5', area_id: 3, address: '北京市海淀区中关村大街 1 号', room_count: 1, acreage: 40,
    unit: '一室一厅', capacity: 5, beds: '双人床 1 张', deposit: '200', min_days: 1, max_days: 0, facility: [1, 2, 3, 15],
    instant_book: false, cancel_policy: 'flexible',
  }]);
  await landlord.getByRole('heading', { name: '管理房源：望京 三居 新装修' }).waitFor();

  // ---- unpublish (after a confirmation) and publish again
  await landlord.getByRole('button', { name: '下架房源' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '下架房源' }).click();
  await landlord.locator('#pub-state', { hasText: '已下架' }).waitFor();
  assert.deepEqual(callsTo(fake, 'PUT', `/houses/${id}/status`).map((c) => c.body), [{ published: false }]);
  await shot(landlord, 'contract-12-manage-unpublished', { fullPage: false });
  await landlord.goto('/myhouse.html');
  await card.locator('.house-flag', { hasText: '已下架' }).waitFor();
  await shot(landlord, 'contract-13-myhouse-unpublished');
  await landlord.goto(`/detail.html?id=${id}`);
  await landlord.locator('#unpublished-note', { hasText: '这套房源已下架' }).waitFor();
  assert.equal(await landlord.locator('#calendar .cal-legend', { hasText: '已关闭' }).count(), 1, 'the owner sees closed nights as such');
  await landlord.getByRole('link', { name: '管理房源' }).click();
  await landlord.getByRole('button', { name: '重新发布' }).click();
  await landlord.locator('#pub-state', { hasText: '已发布' }).waitFor();
  assert.deepEqual(callsTo(fake, 'PUT', `/houses/${id}/status`).map((c) => c.body), [{ published: false }, { published: true }]);

  // English strings of the page.
  await landlord.goto(`/newhouse.html?id=${id}&lang=en`);
  await landlord.getByRole('heading', { name: 'Manage: 望京 三居 新装修' }).waitFor();
  await landlord.getByRole('button', { name: 'Move up photo 2' }).waitFor();
  await landlord.getByRole('button', { name: 'Close these nights' }).waitFor();
  assert.ok((await overflow(landlord)) <= 0, 'the English page fits a phone');
  await shot(landlord, 'contract-14-manage-english');
  await landlord.goto(`/newhouse.html?id=${id}&lang=zh-CN`);
  await landlord.locator('#pub-state').waitFor();
  assertNoProblems(landlord);
});

test('v1.1 contract: the review dialog asks for 1–5 stars (keyboard) and sends them', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'landlord' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-v11c' });
  await apiVerify(landlord, { idCard: idCard('19820303', '333') });
  const id = await apiPublish(landlord, { title: '后海 胡同小院' });
  const guest = await chrome.visitor(app.base, { viewport: MOBILE, name: 'guest' });
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-v11c-pw' });
  const { order_id: orderId } = await apiBook(guest, id, dateAfter(2), dateAfter(4));
  const acc = await landlord.request.put(`/api/v1.0/orders/${orderId}/status`, { data: { action: 'accept' } });
  assert.equal((await acc.json()).errno, '0');
  app.db('UPDATE orders SET start_date = ?, end_date = ? WHERE id = ?', [dateAfter(-3), dateAfter(-1), Number(orderId)]);

  const fake = newFake();
  await stubV11(guest, fake);
  await guest.goto('/orders.html');
  const order = guest.locator(`.order[data-order="${orderId}"]`);
  await order.getByRole('button', { name: '发表评价' }).click();
  const dlg = guest.locator('dialog');
  const group = dlg.getByRole('group', { name: '评分（必选）' });
  await group.waitFor();
  assert.equal(await group.getByRole('radio').count(), 5);
  await dlg.getByLabel('你的评价').fill('院子很安静');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await dlg.getByText('请选择 1–5 星评分').waitFor();
  assert.equal(await guest.evaluate(() => document.activeElement.getAttribute('value')), '1', 'focus goes to the stars');
  // Arrow keys move through the radio group and pick.
  for (let i = 0; i < 3; i++) await guest.keyboard.press('ArrowRight');
  assert.equal(await group.getByRole('radio', { name: '4 星' }).isChecked(), true);
  await dlg.locator('.star-pick-word', { hasText: '很好' }).waitFor();
  assert.equal(await guest.evaluate(() => getComputedStyle(document.activeElement.nextElementSibling).outlineStyle), 'solid', 'the focused star is visibly focused');
  await shot(guest, 'contract-20-review-dialog-mobile');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await order.locator('.badge', { hasText: '已完成' }).waitFor();
  assert.deepEqual(callsTo(fake, 'PUT', `/orders/${orderId}/comment`).map((c) => c.body), [{ comment: '院子很安静', rating: 4 }]);
  assertNoProblems(landlord, guest);
});
