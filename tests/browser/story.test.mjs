// The whole story, as two people would live it, in a real browser against
// the real app: a landlord registers, verifies their real name and publishes
// a house with two photos; a guest registers, searches by area and dates,
// opens the house and books it; the landlord accepts; the guest rates and
// comments the stay and the comment appears on the house's page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, makePng, makeJpeg, newMobile, idCard, dateAfter, assertNoProblems, MOBILE, DESKTOP } from './lib/browser.mjs';
import { register, headerShowsUser, waitFor } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser();

test('landlord publishes, guest books, landlord accepts, guest comments', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: MOBILE, name: 'landlord' });
  const guest = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'guest' });
  const L = { mobile: newMobile(), password: 'landlord-pass-1' };
  const G = { mobile: newMobile(), password: 'guest-pass-12' };
  const title = '三里屯阳光两居 近地铁';
  const start = dateAfter(3);
  const end = dateAfter(6); // 3 nights

  // ---- the landlord: register, real-name auth, avatar
  await landlord.goto('/');
  await landlord.locator('#search-form').waitFor();
  await shot(landlord, 'story-01-index-anonymous-mobile');
  await register(landlord, app, { ...L, shotName: (p) => shot(p, 'story-02-register-filled') });
  await headerShowsUser(landlord, L.mobile);

  await landlord.goto('/myhouse.html');
  await landlord.getByText('发布房源前需要先完成实名认证').waitFor();
  await shot(landlord, 'story-03-myhouse-needs-auth');
  await landlord.getByRole('link', { name: '去实名认证' }).click();
  await landlord.getByLabel('真实姓名').fill('张三丰');
  await landlord.getByLabel('身份证号').fill(idCard());
  await landlord.getByRole('button', { name: '提交认证' }).click();
  await landlord.getByText('你已完成实名认证').waitFor();
  assert.equal(await landlord.getByLabel('身份证号').isEditable(), false, 'id card is locked once set');
  await shot(landlord, 'story-04-auth-locked');

  // Record the upload progress events the pages receive.
  await landlord.addInitScript(() => {
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
      this.upload.addEventListener('progress', (e) => { (window.__uploadProgress ||= []).push(e.loaded / e.total); });
      return send.call(this, body);
    };
  });
  await landlord.goto('/profile.html');
  await landlord.getByLabel('选择头像图片').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: makePng(96, 96, 40) });
  await landlord.getByRole('button', { name: '上传头像' }).click();
  await landlord.getByText('头像已更新').waitFor();
  assert.ok((await landlord.evaluate(() => window.__uploadProgress || [])).includes(1), 'upload progress reached 100%');
  const avatarSrc = await landlord.locator('#avatar-img').getAttribute('src');
  assert.match(avatarSrc, /^(\/images\/|https?:)/, 'avatar_url is a full image URL');
  await waitFor(() => landlord.locator('#avatar-img').evaluate((i) => i.complete && i.naturalWidth > 0), { what: 'avatar image loaded' });
  await shot(landlord, 'story-05-profile-avatar');

  // ---- publish a house with two photos
  await landlord.goto('/myhouse.html');
  await landlord.getByText('你还没有发布任何房源').waitFor();
  await landlord.getByRole('link', { name: '发布新房源' }).first().click();
  await landlord.getByLabel('房屋标题').fill(title);
  await landlord.getByLabel('每晚价格（元）').fill('299.5');
  await landlord.getByLabel('押金（元）').fill('500');
  await landlord.getByLabel('所在区域').selectOption({ label: '朝阳区' });
  await landlord.getByLabel('详细地址').fill('北京市朝阳区三里屯路 19 号院 3 号楼');
  await landlord.getByLabel('出租房间数').fill('2');
  await landlord.getByLabel('房屋面积（平方米）').fill('86');
  await landlord.getByLabel('户型描述').fill('两室一厅一卫');
  await landlord.getByLabel('宜住人数').fill('4');
  await landlord.getByLabel('卧床配置').fill('双人床 1.8×2 米 2 张');
  await landlord.getByLabel('最少入住天数').fill('1');
  await landlord.getByLabel('最多入住天数（0 表示不限）').fill('30');
  for (const f of ['无线网络', '热水淋浴', '空调', '冰箱', '洗衣机', '电梯']) await landlord.getByLabel(f, { exact: true }).check();
  await shot(landlord, 'story-06-newhouse-form');
  await landlord.getByRole('button', { name: '发布房源信息' }).click();
  await landlord.getByRole('heading', { name: '上传房源图片' }).waitFor();
  const jpeg = await makeJpeg(landlord);
  await landlord.getByLabel('选择图片').setInputFiles([
    { name: 'living-room.jpg', mimeType: 'image/jpeg', buffer: jpeg },
    { name: 'bedroom.png', mimeType: 'image/png', buffer: makePng(320, 200, 120) },
  ]);
  await landlord.getByRole('button', { name: '上传图片' }).click();
  await landlord.getByText('已上传 2 张').waitFor();
  assert.ok((await landlord.evaluate(() => (window.__uploadProgress || []).filter((p) => p === 1).length)) >= 2, 'progress for each photo');
  await shot(landlord, 'story-07-newhouse-images');
  await landlord.getByRole('link', { name: '完成，查看房源' }).click();
  await landlord.waitForURL(/detail\.html\?id=\d+/);
  const houseId = new URL(landlord.url()).searchParams.get('id');
  await landlord.locator('#house-title').waitFor();
  assert.equal(await landlord.locator('.gallery-track img').count(), 2, 'both photos in the gallery');
  await waitFor(() => landlord.locator('.gallery-track img').first().evaluate((i) => i.complete && i.naturalWidth > 0), { what: 'first photo loaded' });
  await landlord.getByText('这是你发布的房源').first().waitFor();
  assert.equal(await landlord.getByRole('link', { name: '即刻预订' }).count(), 0, 'no book button on your own house');
  await shot(landlord, 'story-08-detail-own-house');

  // The house is on "my houses", with a way to manage it (its photos among the rest).
  await landlord.goto('/myhouse.html');
  const mine = landlord.locator('#my-houses .house-card', { hasText: title });
  await mine.waitFor();
  await mine.getByRole('link', { name: '管理房源' }).click();
  await landlord.waitForURL(new RegExp(`newhouse\\.html\\?id=${houseId}$`));
  await landlord.getByRole('heading', { name: `管理房源：${title}` }).waitFor();
  await landlord.getByRole('heading', { name: '房源图片' }).waitFor();
  await waitFor(async () => (await landlord.locator('#uploaded img').count()) === 2, { what: 'the two photos' });
  await shot(landlord, 'story-08b-myhouse-photos');

  // ---- the guest: register, search by area and dates, open, book
  await register(guest, app, G);
  await headerShowsUser(guest, G.mobile);
  await guest.locator('#track img').first().waitFor();
  await shot(guest, 'story-09-index-guest-desktop');
  await guest.getByLabel('区域').selectOption({ label: '朝阳区' });
  await guest.getByLabel('入住日期').fill(start);
  await guest.getByLabel('离开日期').fill(end);
  await guest.getByRole('button', { name: '搜索' }).click();
  await guest.waitForURL(/search\.html/);
  const card = guest.locator('.house-card', { hasText: title });
  await card.waitFor();
  assert.match(await card.innerText(), /¥299\.50/);
  await guest.locator('#results-status', { hasText: '已经到底了' }).waitFor();
  await shot(guest, 'story-10-search');
  await card.getByRole('link').click();
  await guest.waitForURL(/detail\.html/);
  await guest.locator('#house-title').waitFor();
  await guest.locator('#comments', { hasText: '暂无评价' }).waitFor();
  await shot(guest, 'story-11-detail-guest');
  await guest.locator('.book-box').getByRole('link', { name: '即刻预订' }).click();
  await guest.waitForURL(/booking\.html/);
  await guest.locator('#booking-form').waitFor();
  assert.equal(await guest.getByLabel('入住日期').inputValue(), start, 'dates carried from the search');
  assert.equal(await guest.getByLabel('离开日期').inputValue(), end);
  assert.equal(await guest.locator('#total').innerText(), '¥898.50', '3 nights × ¥299.50');
  await guest.getByLabel('离开日期').fill(dateAfter(5));
  assert.equal(await guest.locator('#total').innerText(), '¥599', 'the price follows the dates');
  await guest.getByLabel('离开日期').fill(end);
  await shot(guest, 'story-12-booking');
  await guest.getByRole('button', { name: '提交订单' }).click();
  await guest.waitForURL(/orders\.html/);
  const gOrder = guest.locator('.order', { hasText: title });
  await gOrder.locator('.badge', { hasText: '待接单' }).waitFor();
  assert.equal(await gOrder.getByRole('button', { name: '取消订单' }).count(), 1, 'guest may cancel while waiting');
  assert.equal(await gOrder.getByRole('button', { name: '发表评价' }).count(), 0);
  assert.match(await gOrder.innerText(), /¥898\.50/);
  await shot(guest, 'story-13-orders-wait-accept');

  // ---- the booked nights show on the calendar and leave the search
  await landlord.goto(`/detail.html?id=${houseId}`);
  await landlord.locator('#calendar .cal-day').first().waitFor();
  await waitFor(async () => (await landlord.locator('#calendar .cal-day.is-booked').count()) === 3, { what: '3 booked nights on the calendar' });
  await guest.goto(`/search.html?aid=3&sd=${start}&ed=${end}`);
  await guest.locator('.state-empty', { hasText: '没有符合条件的房源' }).waitFor();
  await shot(guest, 'story-14-search-empty');

  // ---- the landlord accepts
  await landlord.goto('/lorders.html');
  const lOrder = landlord.locator('.order', { hasText: title });
  await lOrder.locator('.badge', { hasText: '待接单' }).waitFor();
  assert.equal(await lOrder.getByRole('button', { name: '拒单' }).count(), 1);
  await shot(landlord, 'story-15-lorders-wait-accept');
  await lOrder.getByRole('button', { name: '接单' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '接单' }).click();
  await lOrder.locator('.badge', { hasText: '待评价' }).waitFor();
  // Until check-in the landlord may still cancel (with a reason); nothing else.
  assert.deepEqual(await lOrder.getByRole('button').allTextContents(), ['取消预订'], 'only the host cancel is left');
  await shot(landlord, 'story-16-lorders-accepted');

  // ---- the stay ends. The app only takes a comment once end_date <= today
  // (shared/src/orders.rs COMPLETE_SQL), so the test moves this order's
  // dates into the past directly in <state-dir>/sqlite_db.db.
  await guest.goto('/orders.html');
  await gOrder.locator('.badge', { hasText: '待评价' }).waitFor();
  assert.equal(await gOrder.getByRole('button', { name: '发表评价' }).count(), 0, 'no comment before the stay is over');
  const orderId = await gOrder.getAttribute('data-order');
  app.db('UPDATE orders SET start_date = ?, end_date = ? WHERE id = ?', [dateAfter(-4), dateAfter(-1), Number(orderId)]);
  await guest.reload();
  await gOrder.getByRole('button', { name: '发表评价' }).click();
  const dlg = guest.locator('dialog');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await dlg.getByText('请选择 1–5 星评分').waitFor(); // a star rating is required (API v1.1)
  await dlg.locator('label', { hasText: '5 星' }).click();
  assert.equal(await dlg.getByRole('radio', { name: '5 星' }).isChecked(), true, 'five stars picked');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await dlg.getByText('请填写评价内容').waitFor();
  const comment = '房间干净明亮，房东很热情，下次还来！';
  await dlg.getByLabel('你的评价').fill(comment);
  await shot(guest, 'story-17-comment-dialog');
  await dlg.getByRole('button', { name: '发表评价' }).click();
  await gOrder.locator('.badge', { hasText: '已完成' }).waitFor();
  assert.match(await gOrder.innerText(), new RegExp(comment));
  await shot(guest, 'story-18-orders-complete');

  // ---- the comment is on the house's page
  await guest.goto(`/detail.html?id=${houseId}`);
  const comments = guest.locator('#comments');
  await comments.getByText(comment).waitFor();
  assert.match(await comments.innerText(), new RegExp(G.mobile.slice(0, 3)));
  await shot(guest, 'story-19-detail-with-comment');

  assertNoProblems(landlord, guest);
});
