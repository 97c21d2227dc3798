// Paying for a booking in the browser (issue 24), against the real app with
// payments on and localstripe (a real, stateful Stripe test server) beside
// it, through the Stripe.js it serves: a plain card is held on request and
// charged when the landlord accepts ("paid" for the guest); a 3-D Secure card
// goes through the bank's dialog twice (saving the card, then paying); a card
// declined when charged shows the bank's message and holds no night.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, idCard, dateAfter, DESKTOP, MOBILE } from './lib/browser.mjs';
import { apiRegister, apiVerify, apiPublish } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser({ options: { payments: true } });

/** A PaymentIntent as Stripe (localstripe) holds it; any secret key will do there. */
async function paymentIntent(id) {
  const resp = await fetch(`${app.stripe}/v1/payment_intents/${id}`, { headers: { Authorization: 'Bearer sk_test_browser' } });
  return resp.json();
}

const CARD = { plain: '4242424242424242', threeDs: '4000002760003184', declined: '4000000000000341' };

async function ordersOf(page, role) {
  const body = await (await page.request.get(`/api/v1.0/user/orders?role=${role}`)).json();
  assert.equal(body.errno, '0', JSON.stringify(body));
  return body.data.orders;
}

/** Opens the booking page for these dates and types `number` into Stripe.js's card element. */
async function fillBooking(page, houseId, sd, ed, number) {
  await page.goto(`/booking.html?id=${houseId}&sd=${sd}&ed=${ed}`);
  const card = page.locator('#card-element');
  await card.locator('input[placeholder=number]').waitFor();
  await card.locator('input[placeholder=number]').fill(number);
  await card.locator('input[placeholder=exp_month]').fill('12');
  await card.locator('input[placeholder=exp_year]').fill('34');
  await card.locator('input[placeholder=cvc]').fill('123');
  await card.locator('input[placeholder=postal_code]').fill('10001');
}

/** The 3-D Secure dialog localstripe's Stripe.js shows: the guest confirms. */
async function passThreeDSecure(page) {
  await page.getByRole('button', { name: 'Complete authentication' }).click();
}

test('a card is held on request, charged on acceptance; 3-D Secure; a declined card', async () => {
  const landlord = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'landlord' });
  const guest = await chrome.visitor(app.base, { viewport: MOBILE, name: 'guest' });
  await apiRegister(landlord, app, { mobile: newMobile(), password: 'landlord-789' });
  await apiVerify(landlord, { idCard: idCard('19820202', '135') });
  const houseId = await apiPublish(landlord, { title: '望京 安静两居', price: '240' }); // a request
  await apiRegister(guest, app, { mobile: newMobile(), password: 'guest-pass-9' });

  // ---- a plain card: the booking page shows the card form, the request holds ¥480
  await fillBooking(guest, houseId, dateAfter(20), dateAfter(22), CARD.plain);
  await guest.locator('#payment', { hasText: '房东接单后才扣款' }).waitFor();
  await shot(guest, 'payments-01-card-form');
  await guest.getByRole('button', { name: '提交订单' }).click();
  await guest.waitForURL(/orders\.html$/);
  const [held] = await ordersOf(guest, 'custom');
  assert.equal(held.status, 'WAIT_ACCEPT');
  assert.equal(held.payment, 'authorized');
  const mine = guest.locator(`.order[data-order="${held.order_id}"]`);
  await mine.locator('.order-payment', { hasText: '已冻结 ¥480，房东接单后扣款。' }).waitFor();
  const [[intentId]] = app.db('SELECT payment_intent FROM orders WHERE id = ?', [held.order_id]);
  assert.equal((await paymentIntent(intentId)).status, 'requires_capture');

  // ---- the landlord accepts: charged; the guest sees "paid"
  await landlord.goto('/lorders.html');
  const theirs = landlord.locator(`.order[data-order="${held.order_id}"]`);
  await theirs.locator('.order-payment', { hasText: '房客已冻结 ¥480' }).waitFor();
  await theirs.getByRole('button', { name: '接单' }).click();
  await landlord.locator('dialog').getByRole('button', { name: '接单' }).click();
  await theirs.locator('.order-payment', { hasText: '房客已支付 ¥480。' }).waitFor();
  await guest.reload();
  await mine.locator('.order-payment', { hasText: '已支付 ¥480。' }).waitFor();
  await shot(guest, 'payments-02-paid');
  const captured = await paymentIntent(intentId);
  assert.equal(captured.status, 'succeeded');
  assert.equal(captured.amount_received ?? captured.amount, 48000);

  // ---- a 3-D Secure card: the bank's dialog when the card is saved, and again to pay
  await fillBooking(guest, houseId, dateAfter(30), dateAfter(31), CARD.threeDs);
  await guest.getByRole('button', { name: '提交订单' }).click();
  await passThreeDSecure(guest); // confirmCardSetup
  await passThreeDSecure(guest); // confirmCardPayment
  await guest.waitForURL(/orders\.html$/);
  const secure = (await ordersOf(guest, 'custom')).find((o) => o.order_id !== held.order_id);
  assert.equal(secure.status, 'WAIT_ACCEPT');
  assert.equal(secure.payment, 'authorized');

  // ---- a card declined when charged: the bank's message, no order, no night held
  await fillBooking(guest, houseId, dateAfter(40), dateAfter(41), CARD.declined);
  await guest.getByRole('button', { name: '提交订单' }).click();
  await guest.locator('#booking-alert', { hasText: 'Your card was declined.' }).waitFor();
  await shot(guest, 'payments-03-declined');
  assert.match(guest.url(), /booking\.html/);
  assert.equal((await ordersOf(guest, 'custom')).length, 2, 'the declined booking left no order');
  const detail = await (await guest.request.get(`/api/v1.0/houses/${houseId}`)).json();
  const booked = JSON.stringify(detail.data.house.booked || []);
  assert.ok(!booked.includes(dateAfter(40)), `night ${dateAfter(40)} is free: ${booked}`);
});
