// Booking and order handling in the browser: the conflict message when two
// guests want the same nights, the landlord's reject with a reason, the
// guest's cancel, and which buttons each status offers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, dateAfter, makePng, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish, apiUpload, apiBook } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser();

test('booking conflict, reject with a reason, cancel', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'landlord' });
  const anna = await chrome.visitor(app.base, { viewport: MOBILE, name: 'anna' });
  const ben = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'ben' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-123' });
  await apiVerify(landlord, { idCard: idCard('19850521', '456') });
  const title = '五道口 温馨一居室';
  const houseId = await apiPublish(landlord, { title, price: '150', min_days: 2, max_days: 7 });
  await apiUpload(landlord, houseId, makePng(300, 200, 60));
  await apiRegister(anna, app, { mobile: newMobile(), password: 'anna-password' });
  await apiRegister(ben, app, { mobile: newMobile(), password: 'ben-password1' });

  const sd = dateAfter(10);
  const ed = dateAfter(13);

  // Anna looks at the house on her phone first.
  await anna.goto(`/detail.html?id=${houseId}&sd=${sd}&ed=${ed}`);
  await anna.locator('#house-title', { hasText: title }).waitFor();
  await anna.locator('.gallery-track img').first().evaluate((i) => i.decode());
  await shot(anna, 'orders-00-detail-mobile');
  await anna.locator('.book-bar').getByRole('link', { name: '即刻预订' }).click();
  await anna.waitForURL(/booking\.html\?id=\d+&sd=/);

  // Both open the booking page for the same nights.
  for (const p of [anna, ben]) {
    await p.goto(`/booking.html?id=${houseId}&sd=${sd}&ed=${ed}`);
    await p.locator('#total', { hasText: '¥450' }).waitFor();
  }
  await shot(anna, 'orders-00b-booking-mobile');
  // The page checks min/max days before asking the server.
  await ben.getByLabel('离开日期').fill(dateAfter(11));
  await ben.getByRole('alert').getByText('该房源至少需入住 2 晚').waitFor();
  await ben.getByLabel('离开日期').fill(dateAfter(20));
  await ben.getByRole('alert').getByText('该房源最多可入住 7 晚').waitFor();
  await ben.getByLabel('离开日期').fill(ed);

  await anna.getByRole('button', { name: '提交订单' }).click();
  await anna.waitForURL(/orders\.html/);
  await anna.locator('.order .badge', { hasText: '待接单' }).waitFor();

  // Ben's page still shows the nights as free; the server refuses.
  const [resp] = await Promise.all([
    ben.waitForResponse((r) => r.url().endsWith('/api/v1.0/orders')),
    ben.getByRole('button', { name: '提交订单' }).click(),
  ]);
  const body = await resp.json();
  assert.equal(body.errno, '4004', 'a conflicting booking is 4004');
  assert.equal(resp.status(), 409);
  await ben.locator('#booking-alert', { hasText: body.errmsg }).waitFor();
  assert.match(ben.url(), /booking\.html/, 'ben stays on the page');
  await ben.locator('#calendar .cal-day.is-booked').first().waitFor(); // the calendar learnt the taken nights
  await shot(ben, 'orders-01-booking-conflict');

  // After a reload the calendar knows, and the page says so itself.
  await ben.reload();
  await ben.locator('#booking-alert', { hasText: '所选日期与已预订日期冲突' }).waitFor();
  assert.ok(await ben.locator('#calendar .cal-day.is-booked').count() >= 3, 'booked nights are marked');
  await shot(ben, 'orders-02-booking-calendar-booked');

  // Ben books other nights instead, then cancels.
  const benStart = dateAfter(20);
  const benEnd = dateAfter(22);
  // ...picked on the calendar with the keyboard alone (arrows move, Enter picks).
  const day = ben.locator('#calendar button[data-date][tabindex="0"]');
  assert.equal(await day.count(), 1, 'one day in the tab order');
  assert.equal(await day.getAttribute('data-date'), sd, 'the chosen check-in day is the focus stop');
  await day.focus();
  for (let i = 0; i < 10; i++) await ben.keyboard.press('ArrowRight');
  await ben.keyboard.press('Enter');
  await ben.keyboard.press('ArrowRight');
  await ben.keyboard.press('ArrowRight');
  await ben.keyboard.press('Enter');
  assert.equal(await ben.getByLabel('入住日期').inputValue(), benStart);
  assert.equal(await ben.getByLabel('离开日期').inputValue(), benEnd);
  await ben.locator('#total', { hasText: '¥300' }).waitFor();
  await ben.getByRole('button', { name: '提交订单' }).click();
  await ben.waitForURL(/orders\.html/);
  const benOrder = ben.locator('.order').first();
  await benOrder.locator('.badge', { hasText: '待接单' }).waitFor();
  await benOrder.getByRole('button', { name: '取消订单' }).click();
  await shot(ben, 'orders-03-cancel-confirm');
  await ben.locator('dialog').getByRole('button', { name: '取消订单' }).click();
  await benOrder.locator('.badge', { hasText: '已取消' }).waitFor();
  assert.equal(await benOrder.getByRole('button').count(), 0, 'a canceled order has no actions');

  // The landlord rejects Anna's order with a reason (a reason is required).
  await landlord.goto('/lorders.html');
  const annaOrder = landlord.locator(`.order[data-start="${sd}"]`);
  await annaOrder.locator('.badge', { hasText: '待接单' }).waitFor();
  const benAtLandlord = landlord.locator(`.order[data-start="${benStart}"]`);
  await benAtLandlord.locator('.badge', { hasText: '已取消' }).waitFor();
  assert.equal(await benAtLandlord.getByRole('button').count(), 0);
  await annaOrder.getByRole('button', { name: '拒单' }).click();
  const dlg = landlord.locator('dialog');
  await dlg.getByRole('button', { name: '拒单' }).click();
  await dlg.getByText('请填写拒单原因').waitFor();
  const reason = '那几天房子在装修，抱歉';
  await dlg.getByLabel('拒单原因').fill(reason);
  await shot(landlord, 'orders-04-reject-dialog');
  await dlg.getByRole('button', { name: '拒单' }).click();
  await annaOrder.locator('.badge', { hasText: '已拒单' }).waitFor();
  await annaOrder.getByText(reason).waitFor();
  await shot(landlord, 'orders-05-lorders');

  // Anna sees the reason; nothing left to do.
  await anna.reload();
  const mine = anna.locator('.order').first();
  await mine.locator('.badge', { hasText: '已拒单' }).waitFor();
  await mine.getByText(`拒单原因：${reason}`).waitFor();
  assert.equal(await mine.getByRole('button').count(), 0);
  await shot(anna, 'orders-06-orders-rejected');

  // The landlord can't book their own house: no button, and booking.html says so.
  await landlord.goto(`/detail.html?id=${houseId}`);
  await landlord.getByText('这是你发布的房源').first().waitFor();
  await landlord.goto(`/booking.html?id=${houseId}`);
  await landlord.getByText('不能预订自己发布的房源').waitFor();

  // The server's conflict check is what counts (the page's own check aside).
  await apiBook(anna, houseId, dateAfter(30), dateAfter(32));
  assertNoProblems(landlord, anna, ben);
});
