// A classic iHome client against our API (issue #28): a small jQuery front
// end in the style of the classic course pages (tests/browser/classic/,
// written for this test and served to the browser by the test under
// /classic/ on the app's own origin, never shipped in static/). Like the
// classic pages it sends JSON bodies as strings with the content type set
// by hand, GET parameters form-encoded, uploads through jquery.form, every
// number as a string, an X-CSRFToken header from a cookie that does not
// exist, and it handles errors only in jQuery's success callback.
//
// With `legacy_clients` on, such a client walks the whole story and shows
// every error the server sends: a wrong captcha, a wrong password, a taken
// name, a taken range; its comment without a rating is taken as unrated.
// Without the mode, the same client shows nothing for an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appAndBrowser, startApp, makePng, makeJpeg, newMobile, idCard, dateAfter, assertNoProblems, DESKTOP } from './lib/browser.mjs';
import { waitFor, apiVerify } from './lib/flows.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGES = path.join(HERE, 'classic');
/** jQuery and jquery.form as the pages load them, from npm (package.json). */
const VENDORED = {
  'js/jquery.min.js': path.join(HERE, 'node_modules/jquery/dist/jquery.min.js'),
  'js/jquery.form.min.js': path.join(HERE, 'node_modules/jquery-form/dist/jquery.form.min.js'),
};

const { chrome } = appAndBrowser({ app: false });

/**
 * A visitor whose browser gets the classic pages at `/classic/…` of the
 * app's origin (same origin: the session cookie and relative API paths work
 * as on a classic deployment). Every API answer is recorded.
 */
async function classicVisitor(app, name) {
  const page = await chrome.visitor(app.base, { viewport: DESKTOP, name });
  await page.context().route(`${app.base}/classic/**`, (route) => {
    const rel = new URL(route.request().url()).pathname.slice('/classic/'.length);
    if (rel.split('/').includes('..')) return route.fulfill({ status: 404 });
    return route.fulfill({ path: VENDORED[rel] || path.join(PAGES, rel) });
  });
  page.answers = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) page.answers.push({ url: r.url(), status: r.status() });
  });
  return page;
}

/**
 * Runs `action` and returns the API answer it caused (a request to a path
 * containing `route` with `method`): its status, body and what was sent.
 * The answer passes through a route, so its body is read before the page
 * can navigate away on it.
 */
async function answerTo(page, method, route, action) {
  let answered;
  const answer = new Promise((resolve) => { answered = resolve; });
  const matches = (url) => url.pathname.includes(route);
  const handler = async (r) => {
    if (r.request().method() !== method) return r.fallback();
    const resp = await r.fetch();
    answered({ status: resp.status(), body: JSON.parse((await resp.body()).toString('utf8')), sent: r.request() });
    return r.fulfill({ response: resp });
  };
  await page.route(matches, handler);
  try {
    await action();
    return await answer;
  } finally {
    await page.unroute(matches, handler);
  }
}

/** The error the page shows: the server's errmsg, from an HTTP 200. */
async function assertShown(page, answer, errno) {
  assert.equal(answer.status, 200, `classic clients read errors from a 200: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.errno, errno, JSON.stringify(answer.body));
  const box = page.locator('#error-msg');
  await box.waitFor({ state: 'visible' });
  assert.equal(await box.textContent(), answer.body.errmsg);
}

async function captchaOnPage(page, app, after = '') {
  const uuid = await waitFor(async () => {
    const id = await page.locator('.image-code').getAttribute('data-uuid');
    return id && id !== after ? id : null;
  }, { what: 'a captcha on the classic register page' });
  return { uuid, code: await waitFor(() => app.captchaCode(uuid), { what: `captcha ${uuid}` }) };
}

/** Registers through classic/register.html, a wrong captcha first when `wrongCaptchaFirst`. */
async function classicRegister(page, app, { mobile, password, wrongCaptchaFirst = false }) {
  await page.goto('/classic/register.html');
  await page.locator('#mobile').fill(mobile);
  let captcha = await captchaOnPage(page, app);
  if (wrongCaptchaFirst) {
    const wrong = (captcha.code[0] === 'A' ? 'B' : 'A') + captcha.code.slice(1);
    await page.locator('#imagecode').fill(wrong);
    const refused = await answerTo(page, 'GET', '/smscode/', () => page.locator('.phonecode-a').click());
    await assertShown(page, refused, '4004');
    // The page could react: the link works again and a new captcha is up.
    assert.equal(await page.locator('.phonecode-a').getAttribute('onclick'), 'sendSMSCode();');
    captcha = await captchaOnPage(page, app, captcha.uuid);
  }
  await page.locator('#imagecode').fill(captcha.code);
  const sent = await answerTo(page, 'GET', '/smscode/', () => page.locator('.phonecode-a').click());
  assert.equal(sent.body.errno, '0', JSON.stringify(sent.body));
  // Form-encoded in the query string, as $.get sends an object.
  assert.match(sent.sent.url(), new RegExp(`\\?text=${captcha.code}&id=${captcha.uuid}$`));
  await page.locator('.phonecode-a', { hasText: '秒' }).waitFor();
  const sms = await waitFor(() => app.smsCode(mobile), { what: `an SMS to ${mobile}` });
  await page.locator('#phonecode').fill(sms);
  await page.locator('#password').fill(password);
  await page.locator('#password2').fill(password);
  await page.getByRole('button', { name: '注册' }).click();
  await page.waitForURL(/\/classic\/index\.html$/);
  await page.locator('.user-info .user-name', { hasText: mobile }).waitFor();
}

test('a classic jQuery client walks the whole story with legacy_clients on, and shows every error', async () => {
  const app = await startApp({ env: { SPIN_VARIABLE_LEGACY_CLIENTS: 'true' } });
  try {
    const landlord = await classicVisitor(app, 'landlord');
    const guest = await classicVisitor(app, 'guest');
    const L = { mobile: newMobile(), password: 'landlord-pass-1' };
    const G = { mobile: newMobile(), password: 'guest-pass-12' };

    // Logged out: GET /session is a 200 with 4101, so the index offers register and login.
    await landlord.goto('/classic/index.html');
    await landlord.locator('.register-login').waitFor();
    assert.deepEqual(landlord.answers.map((a) => a.status), [200]);

    await classicRegister(landlord, app, { ...L, wrongCaptchaFirst: true });
    await classicRegister(guest, app, G);

    // Login on another device: a wrong password first.
    const device = await classicVisitor(app, 'landlord-phone');
    await device.goto('/classic/login.html');
    await device.locator('#mobile').fill(L.mobile);
    await device.locator('#password').fill('not-the-password');
    const refused = await answerTo(device, 'POST', '/sessions', () => device.getByRole('button', { name: '登录' }).click());
    await assertShown(device, refused, '4102');
    assert.equal(refused.sent.headers()['content-type'], 'application/json');
    await device.locator('#password').fill(L.password);
    await device.getByRole('button', { name: '登录' }).click();
    await device.waitForURL(/\/classic\/index\.html$/);
    await device.locator('.user-info .user-name', { hasText: L.mobile }).waitFor();

    // Rename to the guest's (taken) name, then to a free one.
    await landlord.goto('/classic/profile.html');
    await waitFor(async () => (await landlord.locator('#user-name').inputValue()) === L.mobile, { what: 'the profile loaded' });
    await landlord.locator('#user-name').fill(G.mobile);
    const taken = await answerTo(landlord, 'PUT', '/user/name', () => landlord.getByRole('button', { name: '保存' }).click());
    await assertShown(landlord, taken, '4001');
    await landlord.locator('#user-name').fill('经典房东');
    await landlord.getByRole('button', { name: '保存' }).click();
    await landlord.locator('.saved').waitFor();

    // Publish: every value a string, then two photos through jquery.form.
    await apiVerify(landlord, { idCard: idCard() });
    await landlord.goto('/classic/newhouse.html');
    await landlord.locator('#area-id option[value="4"]').waitFor({ state: 'attached' });
    const title = '经典客户端的小院';
    const form = {
      title, price: '288', address: '北京市海淀区经典路 1 号', room_count: '2', acreage: '60',
      unit: '两室一厅', capacity: '3', beds: '双人床 1 张', deposit: '500', min_days: '1', max_days: '0',
    };
    for (const [name, value] of Object.entries(form)) await landlord.locator(`[name=${name}]`).fill(value);
    await landlord.locator('#area-id').selectOption('4');
    await landlord.locator('[name=facility][value="1"]').check();
    await landlord.locator('[name=facility][value="3"]').check();
    const published = await answerTo(landlord, 'POST', '/api/v1.0/houses', () => landlord.getByRole('button', { name: '发布房源信息' }).click());
    assert.equal(published.body.errno, '0', JSON.stringify(published.body));
    const sentForm = JSON.parse(published.sent.postData());
    assert.equal(sentForm.price, '288');
    assert.equal(sentForm.area_id, '4');
    assert.deepEqual(sentForm.facility, ['1', '3']);
    const houseId = published.body.data.house_id;
    const photos = [
      { name: 'front.png', mimeType: 'image/png', buffer: makePng(240, 160, 30) },
      { name: 'room.jpg', mimeType: 'image/jpeg', buffer: await makeJpeg(landlord) },
    ];
    for (const [i, file] of photos.entries()) {
      await landlord.locator('#house-image').setInputFiles(file);
      const up = await answerTo(landlord, 'POST', `/houses/${houseId}/images`, () => landlord.getByRole('button', { name: '上传' }).click());
      assert.equal(up.body.errno, '0', JSON.stringify(up.body));
      assert.match(up.sent.headers()['content-type'], /^multipart\/form-data; boundary=/);
      await waitFor(async () => (await landlord.locator('.house-image-cons img').count()) === i + 1, { what: `photo ${i + 1} shown` });
    }
    const firstPhoto = await landlord.locator('.house-image-cons img').first().getAttribute('src');
    const img = await landlord.request.get(firstPhoto);
    assert.equal(img.status(), 200, 'the uploaded photo is served');

    // The guest searches by area and dates, and books.
    const [start, end] = [dateAfter(10), dateAfter(13)];
    await guest.goto(`/classic/search.html?aid=4&sd=${start}&ed=${end}`);
    const found = guest.locator(`.house-list li[data-house-id="${houseId}"]`);
    await found.waitFor();
    assert.match(await found.innerText(), /经典客户端的小院\s*￥288/);
    await found.getByRole('link').click();
    await guest.waitForURL(new RegExp(`/classic/booking\\.html\\?hid=${houseId}$`));
    await guest.locator('#start-date').fill(start);
    await guest.locator('#end-date').fill(end);
    const booked = await answerTo(guest, 'POST', '/api/v1.0/orders', () => guest.getByRole('button', { name: '提交订单' }).click());
    assert.equal(booked.body.errno, '0', JSON.stringify(booked.body));
    assert.equal(JSON.parse(booked.sent.postData()).house_id, String(houseId), 'the id went as a string');
    await guest.waitForURL(/\/classic\/orders\.html$/);
    const orderId = booked.body.data.order_id;

    // The same nights again: taken.
    await guest.goto(`/classic/booking.html?hid=${houseId}`);
    await guest.locator('#start-date').fill(dateAfter(11));
    await guest.locator('#end-date').fill(dateAfter(12));
    const clash = await answerTo(guest, 'POST', '/api/v1.0/orders', () => guest.getByRole('button', { name: '提交订单' }).click());
    await assertShown(guest, clash, '4004');

    // The landlord accepts.
    await landlord.goto('/classic/lorders.html');
    const lOrder = landlord.locator(`.orders-list li[data-order-id="${orderId}"]`);
    await lOrder.locator('.status', { hasText: 'WAIT_ACCEPT' }).waitFor();
    await lOrder.getByRole('button', { name: '接单' }).click();
    await lOrder.locator('.status', { hasText: 'WAIT_COMMENT' }).waitFor();

    // The stay ends (the app takes a comment only once end_date <= today,
    // so its dates are moved into the past in the database), and the guest
    // comments as classic pages do: no rating.
    app.db('UPDATE orders SET start_date = ?, end_date = ? WHERE id = ?', [dateAfter(-4), dateAfter(-1), Number(orderId)]);
    await guest.goto('/classic/orders.html');
    const gOrder = guest.locator(`.orders-list li[data-order-id="${orderId}"]`);
    const comment = '院子安静，房东热情';
    await gOrder.locator('.comment-text').fill(comment);
    const commented = await answerTo(guest, 'PUT', `/orders/${orderId}/comment`, () => gOrder.getByRole('button', { name: '发表评价' }).click());
    assert.equal(commented.body.errno, '0', JSON.stringify(commented.body));
    assert.deepEqual(JSON.parse(commented.sent.postData()), { order_id: String(orderId), comment });
    await gOrder.locator('.status', { hasText: 'COMPLETE' }).waitFor();
    assert.equal(await gOrder.locator('.comment').textContent(), comment);

    // On the house: the comment, unrated, and no average made up from it.
    const house = await (await guest.request.get(`/api/v1.0/houses/${houseId}`)).json();
    assert.equal(house.data.house.comments[0].comment, comment);
    assert.equal(house.data.house.comments[0].rating, null);
    assert.equal(house.data.house.rating, null);
    assert.equal(house.data.house.img_urls.length, 2);

    // Every API answer the classic pages got was a 200.
    for (const page of [landlord, guest, device]) {
      assert.deepEqual(page.answers.filter((a) => a.status !== 200), [], 'non-200 answers');
    }
    assertNoProblems(landlord, guest, device);
  } finally {
    await app.stop();
  }
});

test('without legacy_clients, the same classic client shows nothing for an error', async () => {
  const app = await startApp();
  try {
    const page = await classicVisitor(app, 'visitor');
    await page.goto('/classic/login.html');
    await page.locator('#mobile').fill(newMobile());
    await page.locator('#password').fill('whatever-password');
    const refused = await answerTo(page, 'POST', '/sessions', () => page.getByRole('button', { name: '登录' }).click());
    assert.equal(refused.status, 401);
    assert.equal(refused.body.errno, '4102');
    // Once jQuery is done with the answer (its callbacks have run), no
    // success callback has shown anything: a 401 reaches none.
    await page.waitForFunction(() => window.jQuery.active === 0);
    assert.equal(await page.locator('#error-msg').isVisible(), false);
  } finally {
    await app.stop();
  }
});
