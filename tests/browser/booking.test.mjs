// A booking people can rely on (issue 23), in the browser against the real app:
// instant book and the cancellation policy in the house form (publish and
// edit), on the cards, the detail and the booking page; an instant booking is
// confirmed at once and the guest cancels it after the refund preview; a
// request shows its deadline, the landlord accepts and then cancels it with a
// reason; an unanswered request expires (time moved in the database) and its
// nights go to the next guest, who withdraws his request; the order lists in
// English.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, dateAfter, makePng, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish, apiUpload, apiBook, login, waitFor } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser();

const RULE = {
  flexible: '入住（当天 14:00）前 24 小时以上取消，全额退款；此后取消，扣除首晚房费后退款。',
  moderate: '入住前 5 天以上取消，全额退款；此后取消，退还一半。',
  strict: '预订后 48 小时内、且距入住 14 天以上取消，全额退款；距入住 7 天以上取消，退还一半；此后取消不退款。',
};

/** "¥299.98" for 29998 fen (what the pages print). */
const yuan = (fen) => '¥' + (fen % 100 === 0 ? String(fen / 100) : (fen / 100).toFixed(2));

/** A server timestamp ("2026-12-08 16:10:00") as the pages print it: "12月8日 16:10". */
function shown(ts, lang = 'zh') {
  const [y, m, d] = ts.slice(0, 10).split('-').map(Number);
  const thisYear = y === new Date(Date.now() + 8 * 3600_000).getUTCFullYear();
  const day = lang === 'en'
    ? (thisYear ? `${m}/${d}` : `${y}/${m}/${d}`)
    : (thisYear ? `${m}月${d}日` : `${y}年${m}月${d}日`);
  return `${day} ${ts.slice(11, 16)}`;
}

/** Unix seconds of a server timestamp in the app's zone (UTC+8 in these tests). */
const unixOf = (ts) => Date.parse(ts.replace(' ', 'T') + '+08:00') / 1000;

async function ordersOf(page, role) {
  const resp = await page.request.get(`/api/v1.0/user/orders?role=${role}`);
  const body = await resp.json();
  assert.equal(body.errno, '0', JSON.stringify(body));
  return body.data.orders;
}

test('instant book and a policy: publish and edit, card, detail, confirmed at once, cancel with the refund preview', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'landlord' });
  const guest = await chrome.visitor(app.base, { viewport: MOBILE, name: 'guest' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-123' });
  await apiVerify(landlord, { idCard: idCard('19800101', '321') });
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-pass-1' });

  // ---- the landlord publishes through the form: instant book, strict policy
  await landlord.goto('/newhouse.html');
  const form = landlord.locator('#house-form');
  await form.getByLabel('房屋标题').fill('后海 即订小院');
  await form.getByLabel('每晚价格（元）').fill('199.99');
  await form.getByLabel('押金（元）').fill('0');
  await form.getByLabel('所在区域').selectOption({ label: '西城区' });
  await form.getByLabel('详细地址').fill('北京市西城区后海北沿 8 号');
  await form.getByLabel('房屋面积（平方米）').fill('45');
  await form.getByLabel('户型描述').fill('一室一厅');
  await form.getByLabel('卧床配置').fill('双人床 1 张');
  const instant = form.getByLabel('即时预订：房客下单即确认，无需我接单');
  assert.equal(await instant.isChecked(), false, 'instant book is off unless the landlord turns it on');
  assert.equal(await form.getByLabel('取消政策').inputValue(), 'flexible', 'flexible by default');
  await form.locator('#cancel_policy-hint', { hasText: RULE.flexible }).waitFor();
  await instant.check();
  await form.getByLabel('取消政策').selectOption({ label: '严格：仅预订后 48 小时内且距入住 14 天以上取消全额退款' });
  await form.locator('#cancel_policy-hint', { hasText: RULE.strict }).waitFor();
  await shot(landlord, 'booking-01-newhouse-rules');
  const [published] = await Promise.all([
    landlord.waitForResponse((r) => r.url().endsWith('/api/v1.0/houses') && r.request().method() === 'POST'),
    form.getByRole('button', { name: '发布房源信息' }).click(),
  ]);
  const sent = published.request().postDataJSON();
  assert.equal(sent.instant_book, true);
  assert.equal(sent.cancel_policy, 'strict');
  const houseId = (await published.json()).data.house_id;
  await landlord.getByRole('heading', { name: '上传房源图片' }).waitFor();
  await apiUpload(landlord, houseId, makePng(300, 200, 30));

  // ---- the edit form shows both and changes the policy to moderate
  await landlord.goto(`/newhouse.html?id=${houseId}`);
  const edit = landlord.locator('#house-form');
  await waitFor(async () => (await edit.getByLabel('房屋标题').inputValue()) === '后海 即订小院', { what: 'the edit form filled' });
  assert.equal(await edit.getByLabel('即时预订：房客下单即确认，无需我接单').isChecked(), true);
  assert.equal(await edit.getByLabel('取消政策').inputValue(), 'strict');
  await edit.locator('#cancel_policy-hint', { hasText: RULE.strict }).waitFor();
  await edit.getByLabel('取消政策').selectOption('moderate');
  await edit.locator('#cancel_policy-hint', { hasText: RULE.moderate }).waitFor();
  const [saved] = await Promise.all([
    landlord.waitForResponse((r) => r.url().endsWith(`/api/v1.0/houses/${houseId}`) && r.request().method() === 'PUT'),
    edit.getByRole('button', { name: '保存修改' }).click(),
  ]);
  assert.equal((await saved.json()).errno, '0');
  assert.deepEqual([saved.request().postDataJSON().instant_book, saved.request().postDataJSON().cancel_policy], [true, 'moderate']);
  await landlord.locator('#house-alert', { hasText: '房源信息已保存' }).waitFor();
  const detail = (await (await landlord.request.get(`/api/v1.0/houses/${houseId}`)).json()).data.house;
  assert.deepEqual([detail.instant_book, detail.cancel_policy], [true, 'moderate'], 'the server keeps both');

  // ---- the guest: the badge on the card, the rules on the detail and booking pages
  await guest.goto('/search.html');
  const card = guest.locator(`.house-card[data-house="${houseId}"]`);
  await card.locator('.instant-badge', { hasText: '即时预订' }).waitFor();
  await guest.goto(`/detail.html?id=${houseId}`);
  await guest.locator('.detail-badges', { hasText: '即时预订' }).waitFor();
  await guest.locator('#rule-booking', { hasText: '下单即确认，无需等待房东接单。' }).waitFor();
  await guest.locator('#rule-policy', { hasText: '取消政策：适中' }).waitFor();
  await guest.locator('#rule-policy', { hasText: RULE.moderate }).waitFor();
  await shot(guest, 'booking-02-detail-rules-mobile');

  const sd = dateAfter(2); // under 5 days before check-in: the moderate policy refunds half
  const ed = dateAfter(5);
  const amount = 3 * 19999;
  await guest.goto(`/booking.html?id=${houseId}&sd=${sd}&ed=${ed}`);
  await guest.locator('#total', { hasText: yuan(amount) }).waitFor();
  await guest.locator('#booking-mode', { hasText: '提交后预订立即确认。' }).waitFor();
  await guest.locator('#booking-policy', { hasText: RULE.moderate }).waitFor();
  await shot(guest, 'booking-03-booking-instant');
  await guest.getByRole('button', { name: '提交订单' }).click();
  await guest.waitForURL(/orders\.html$/);
  await guest.locator('#booked-note', { hasText: '预订成功，已确认。' }).waitFor();
  const order = guest.locator('.order.is-new');
  await order.locator('.badge', { hasText: '待评价' }).waitFor();
  await order.getByText('取消政策：适中').waitFor();
  const [mine] = await ordersOf(guest, 'custom');
  assert.deepEqual([mine.status, mine.instant_book, mine.cancel_policy, mine.expires_at, mine.amount], ['WAIT_COMMENT', true, 'moderate', '', amount]);

  // ---- cancel: the preview first (keep the booking), then for real
  const refund = Math.floor(amount / 2); // half, rounded down to the fen
  const preview = async () => {
    const [resp] = await Promise.all([
      guest.waitForResponse((r) => r.url().endsWith(`/api/v1.0/orders/${mine.order_id}/refund`)),
      order.getByRole('button', { name: '取消订单' }).click(),
    ]);
    assert.deepEqual((await resp.json()).data, { policy: 'moderate', refund });
    await guest.locator('dialog #refund-preview', { hasText: `按适中取消政策，现在取消将退还 ${yuan(refund)}（订单总额 ${yuan(amount)}）。` }).waitFor();
  };
  await preview();
  await guest.locator('dialog').getByText(RULE.moderate).waitFor();
  await shot(guest, 'booking-04-cancel-preview');
  await guest.locator('dialog').getByRole('button', { name: '保留订单' }).click();
  await guest.locator('dialog').waitFor({ state: 'detached' });
  assert.equal((await ordersOf(guest, 'custom'))[0].status, 'WAIT_COMMENT', 'keeping it changes nothing');
  await preview();
  await guest.locator('dialog').getByRole('button', { name: '取消订单' }).click();
  const canceled = guest.locator(`.order[data-order="${mine.order_id}"]`);
  await canceled.locator('.badge', { hasText: '已取消' }).waitFor();
  await canceled.getByText(`你取消了这笔预订，按取消政策退款 ${yuan(refund)}。`).waitFor();
  assert.equal(await canceled.getByRole('button').count(), 0, 'nothing more to do');
  const after = (await ordersOf(guest, 'custom'))[0];
  assert.deepEqual([after.status, after.canceled_by, after.refund], ['CANCELED', 'guest', refund]);
  await shot(guest, 'booking-05-canceled-by-guest');

  // The nights are free again, and the landlord sees who cancelled and the refund.
  await guest.goto(`/detail.html?id=${houseId}`);
  await guest.locator('#calendar .cal-day.is-today').waitFor();
  assert.equal(await guest.locator('#calendar .is-booked').count(), 0, 'no night is held');
  await landlord.goto('/lorders.html');
  const atLandlord = landlord.locator(`.order[data-order="${mine.order_id}"]`);
  await atLandlord.locator('.badge', { hasText: '已取消' }).waitFor();
  await atLandlord.getByText(`房客取消了这笔预订，按取消政策退还 ${yuan(refund)}。`).waitFor();
  assert.equal(await atLandlord.getByRole('button').count(), 0);
  assertNoProblems(landlord, guest);
});

test('a request: its deadline, accepted then cancelled by the landlord with a reason; an unanswered one expires', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: MOBILE, name: 'landlord' });
  const guest = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'guest' });
  const ben = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'ben' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-456' });
  await apiVerify(landlord, { idCard: idCard('19750303', '654') });
  const houseId = await apiPublish(landlord, { title: '国贸 商务一居', price: '150' }); // a request, flexible
  await apiUpload(landlord, houseId, makePng(300, 200, 90));
  const G = { mobile: newMobile(), password: 'guest-pass-2' };
  await apiRegister(guest, app, G);
  await apiRegister(ben, app, { mobile: newMobile(), password: 'ben-pass-123' });

  await guest.goto(`/detail.html?id=${houseId}`);
  await guest.locator('#rule-booking', { hasText: '需房东确认' }).waitFor();
  assert.equal(await guest.locator('.detail-badges').count(), 0, 'no instant-book badge');
  await guest.locator('#rule-policy', { hasText: '取消政策：灵活' }).waitFor();

  // ---- book: the page says it is a request, with the latest deadline possible
  const sd = dateAfter(10);
  const ed = dateAfter(12);
  await guest.goto(`/booking.html?id=${houseId}&sd=${sd}&ed=${ed}`);
  await guest.locator('#booking-mode', { hasText: '提交后是一个预订请求' }).waitFor();
  const [y, m, d] = sd.split('-').map(Number);
  const sdText = y === new Date(Date.now() + 8 * 3600_000).getUTCFullYear() ? `${m}月${d}日` : `${y}年${m}月${d}日`;
  await guest.locator('#booking-mode', { hasText: `期限最迟为入住当天（${sdText}）24:00。` }).waitFor();
  await shot(guest, 'booking-06-booking-request');
  await guest.getByRole('button', { name: '提交订单' }).click();
  await guest.waitForURL(/orders\.html$/);
  const [req] = await ordersOf(guest, 'custom');
  assert.equal(req.status, 'WAIT_ACCEPT');
  assert.equal(unixOf(req.expires_at) - unixOf(req.ctime), 24 * 3600, 'a day to answer (check-in is further away)');
  await guest.locator('#booked-note', { hasText: `预订请求已发送，房东需在 ${shown(req.expires_at)} 前答复。` }).waitFor();
  const mine = guest.locator(`.order[data-order="${req.order_id}"]`);
  await mine.locator('.badge', { hasText: '待接单' }).waitFor();
  await mine.locator('.order-deadline', { hasText: `房东需在 ${shown(req.expires_at)} 前答复` }).waitFor();
  assert.match(await mine.locator('.order-deadline').textContent(), /（还剩 2[34] 小时 \d+ 分）/);
  await shot(guest, 'booking-07-orders-request');

  // ---- the landlord sees the deadline, accepts, then cancels with a reason
  await landlord.goto('/lorders.html');
  const theirs = landlord.locator(`.order[data-order="${req.order_id}"]`);
  await theirs.locator('.order-deadline', { hasText: `请在 ${shown(req.expires_at)} 前答复，逾期请求自动失效` }).waitFor();
  await shot(landlord, 'booking-08-lorders-request-mobile');
  await theirs.getByRole('button', { name: '接单' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '接单' }).click();
  await theirs.locator('.badge', { hasText: '待评价' }).waitFor();
  assert.equal(await theirs.locator('.order-deadline').count(), 0, 'an accepted order has no deadline');
  await theirs.getByRole('button', { name: '取消预订' }).click();
  const dlg = landlord.locator('dialog');
  await dlg.getByText('房客将获得全额退款 ¥300，这些夜晚重新开放预订。').waitFor();
  await dlg.getByRole('button', { name: '保留订单' }).waitFor(); // the way back says what it keeps
  await dlg.getByRole('button', { name: '取消预订' }).click();
  await dlg.getByText('请填写取消原因').waitFor();
  const reason = '水管爆裂，需要维修，非常抱歉';
  await dlg.getByLabel('取消原因（房客可见）').fill(reason);
  await shot(landlord, 'booking-09-host-cancel-dialog');
  await dlg.getByRole('button', { name: '取消预订' }).click();
  await theirs.locator('.badge', { hasText: '已取消' }).waitFor();
  await theirs.getByText(`你取消了这笔预订：${reason}。房客获全额退款 ¥300。`).waitFor();
  assert.equal(await theirs.getByRole('button').count(), 0);

  await guest.reload();
  await mine.locator('.badge', { hasText: '已取消' }).waitFor();
  await mine.getByText(`房东取消了这笔预订：${reason}。全额退款 ¥300。`).waitFor();
  assert.equal(await mine.getByRole('button').count(), 0);
  const hostCanceled = (await ordersOf(guest, 'custom')).find((o) => o.order_id === req.order_id);
  assert.deepEqual([hostCanceled.canceled_by, hostCanceled.refund], ['landlord', 30000]);
  await shot(guest, 'booking-10-canceled-by-host');

  // ---- another request nobody answers: its deadline passes (moved in the database)
  const sd2 = dateAfter(20);
  const ed2 = dateAfter(22);
  const { order_id: lateId } = await apiBook(guest, houseId, sd2, ed2);
  const past = Math.floor(Date.now() / 1000) - 60;
  app.db('UPDATE orders SET created_at = created_at - 86460, expires_at = ? WHERE id = ?', [past, lateId]);
  app.db('UPDATE house_nights SET expires_at = ? WHERE order_id = ?', [past, lateId]);
  const late = (await ordersOf(guest, 'custom')).find((o) => o.order_id === lateId);
  assert.equal(late.status, 'EXPIRED', 'lists show it expired before anything else happens');
  await guest.reload();
  const expired = guest.locator(`.order[data-order="${lateId}"]`);
  await expired.locator('.badge', { hasText: '已失效' }).waitFor();
  await expired.getByText(`房东未在 ${shown(late.expires_at)} 前答复，请求已失效，未收取费用。`).waitFor();
  assert.equal(await expired.getByRole('button').count(), 0, 'nothing to cancel');
  await shot(guest, 'booking-11-orders-expired');
  await landlord.reload();
  const expiredThere = landlord.locator(`.order[data-order="${lateId}"]`);
  await expiredThere.locator('.badge', { hasText: '已失效' }).waitFor();
  await expiredThere.getByText(`未在 ${shown(late.expires_at)} 前答复，请求已失效，这些夜晚已重新开放预订。`).waitFor();
  assert.equal(await expiredThere.getByRole('button').count(), 0, 'too late to accept');

  // Its nights are free: Ben sees them open and books them through the page.
  await ben.goto(`/booking.html?id=${houseId}&sd=${sd2}&ed=${ed2}`);
  await ben.locator('#total', { hasText: '¥300' }).waitFor();
  assert.equal(await ben.locator('#calendar .is-booked').count(), 0, 'the expired hold is not shown as booked');
  assert.equal(await ben.locator('#booking-alert').isHidden(), true);
  await ben.getByRole('button', { name: '提交订单' }).click();
  await ben.waitForURL(/orders\.html$/);
  const bens = ben.locator('.order').first();
  await bens.locator('.badge', { hasText: '待接单' }).waitFor();

  // Ben withdraws his request: the preview says nothing was charged.
  const [benPreview] = await Promise.all([
    ben.waitForResponse((r) => /\/api\/v1\.0\/orders\/\d+\/refund$/.test(r.url())),
    bens.getByRole('button', { name: '取消订单' }).click(),
  ]);
  assert.deepEqual((await benPreview.json()).data, { policy: 'flexible', refund: 0 });
  await ben.locator('dialog').getByText('确定撤回这个预订请求吗？房东尚未接单，不收取任何费用。').waitFor();
  await ben.locator('dialog').getByRole('button', { name: '取消订单' }).click();
  await bens.locator('.badge', { hasText: '已取消' }).waitFor();
  await bens.getByText('你取消了这笔订单。').waitFor();
  await landlord.reload();
  await landlord.locator('.order', { hasText: '房客取消了这笔订单。' }).waitFor();

  // ---- the same lists in English
  const en = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'guest-en' });
  await login(en, G);
  await en.goto('/orders.html?lang=en');
  const expiredEn = en.locator(`.order[data-order="${lateId}"]`);
  await expiredEn.locator('.badge', { hasText: 'Expired' }).waitFor();
  await expiredEn.getByText(`The host did not answer by ${shown(late.expires_at, 'en')}: the request expired at no cost.`).waitFor();
  const canceledEn = en.locator(`.order[data-order="${req.order_id}"]`);
  await canceledEn.locator('.badge', { hasText: 'Canceled' }).waitFor();
  await canceledEn.getByText(`The host canceled this booking: ${reason}. Full refund: ¥300.`).waitFor();
  await shot(en, 'booking-12-orders-english');
  await en.goto(`/detail.html?id=${houseId}`);
  await en.locator('#rule-booking', { hasText: 'Host approval' }).waitFor();
  await en.locator('#rule-policy', { hasText: 'Cancellation policy: Flexible' }).waitFor();
  assertNoProblems(landlord, guest, ben, en);
});
