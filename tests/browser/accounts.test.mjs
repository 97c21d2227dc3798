// Accounts in the browser: the register page's captcha and SMS countdown,
// login failures shown from the server's errmsg, the 4101 round trip through
// login.html?next=…, renaming, and logging out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appAndBrowser, shot, newMobile, assertNoProblems, DESKTOP, MOBILE } from './lib/browser.mjs';
import { register, login, headerShowsUser, currentCaptcha, apiRegister, waitFor } from './lib/flows.mjs';

const { app, chrome } = appAndBrowser();

test('register page: captcha refresh, wrong captcha, SMS countdown', async () => {
  const page = await chrome.visitor(app.base, { viewport: MOBILE, name: 'register' });
  await page.clock.install(); // the 60 s countdown runs on a clock the test controls
  await page.goto('/register.html');
  const first = await currentCaptcha(page, app);
  assert.match(first.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a v4 uuid');
  await page.getByRole('button', { name: '图片验证码，点击换一张' }).click();
  const second = await currentCaptcha(page, app, { after: first.uuid });
  assert.notEqual(second.uuid, first.uuid, 'a click fetches a new captcha');

  // Client-side checks first.
  await page.getByRole('button', { name: '获取验证码' }).click();
  await page.getByRole('alert').getByText('请输入正确的 11 位手机号').waitFor();

  const mobile = newMobile();
  await page.getByLabel('手机号').fill(mobile);
  await page.getByLabel('图片验证码', { exact: true }).fill(second.code === 'ZZZZ' ? 'YYYY' : 'ZZZZ');
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/v1.0/smscode/')),
    page.getByRole('button', { name: '获取验证码' }).click(),
  ]);
  const body = await resp.json();
  assert.equal(body.errno, '4004', 'wrong captcha is 4004');
  await page.getByRole('alert').getByText(body.errmsg).waitFor();
  const third = await currentCaptcha(page, app, { after: second.uuid });
  assert.notEqual(third.uuid, second.uuid, 'a used captcha is replaced');
  await shot(page, 'accounts-01-register-wrong-captcha');

  await page.getByLabel('图片验证码', { exact: true }).fill(third.code);
  await page.getByRole('button', { name: '获取验证码' }).click();
  const btn = page.locator('#sms-btn');
  await waitFor(async () => /^\d+ 秒后重发$/.test(await btn.innerText()), { what: 'the countdown' });
  assert.equal(await btn.isDisabled(), true, 'no resend during the countdown');
  const n1 = Number((await btn.innerText()).split(' ')[0]);
  assert.ok(n1 <= 60 && n1 >= 55, `countdown starts near 60, got ${n1}`);
  await page.clock.runFor(2000);
  const n2 = Number((await btn.innerText()).split(' ')[0]);
  assert.equal(n2, n1 - 2, `countdown ticks once a second (${n1} → ${n2})`);
  await shot(page, 'accounts-02-register-countdown');
  await page.clock.runFor(n2 * 1000 - 1500);
  assert.equal(await btn.isDisabled(), true, 'still counting just before the end');
  await page.clock.runFor(2000);
  assert.equal(await btn.innerText(), '获取验证码', 'the button comes back after 60 s');
  assert.equal(await btn.isDisabled(), false);

  // Mismatched passwords are caught before the request.
  await page.getByLabel('短信验证码').fill(await app.smsCode(mobile));
  await page.getByLabel('密码', { exact: true }).fill('password-123');
  await page.getByLabel('确认密码').fill('password-124');
  await page.getByRole('button', { name: '注册', exact: true }).click();
  await page.getByRole('alert').getByText('两次输入的密码不一致').waitFor();
  assertNoProblems(page);
});

test('login failures show the server message; 4101 goes to login and back', async () => {
  const page = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'login' });
  const user = { mobile: newMobile(), password: 'right-password-1' };
  await apiRegister(page, app, user);
  await page.context().clearCookies();

  // A page that needs a session sends the visitor to login with ?next=.
  await page.goto('/orders.html');
  await page.waitForURL(/\/login\.html\?next=%2Forders\.html$/);
  await page.getByText('请先登录后继续').waitFor();

  // Wrong password and unknown mobile: one message (the server's), no probing.
  const messages = [];
  for (const [mobile, password] of [[user.mobile, 'wrong-password-1'], [newMobile(), 'whatever-123']]) {
    await page.getByLabel('手机号').fill(mobile);
    await page.getByLabel('密码').fill(password);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1.0/sessions')),
      page.getByRole('button', { name: '登录', exact: true }).click(),
    ]);
    const body = await resp.json();
    assert.equal(body.errno, '4102');
    assert.equal(resp.status(), 401);
    await page.locator('#form-alert', { hasText: body.errmsg }).waitFor();
    messages.push(body.errmsg);
  }
  assert.equal(messages[0], messages[1], 'the same message for both');
  await shot(page, 'accounts-03-login-failed');

  await page.getByLabel('手机号').fill('12345');
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.locator('#form-alert', { hasText: '请输入正确的 11 位手机号' }).waitFor();
  assert.equal(await page.getByLabel('手机号').getAttribute('aria-invalid'), 'true');

  await page.getByLabel('手机号').fill(user.mobile);
  await page.getByLabel('密码').fill(user.password);
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.waitForURL(/\/orders\.html$/);
  await page.getByText('还没有订单').waitFor();
  await headerShowsUser(page, user.mobile);
  await shot(page, 'accounts-04-orders-empty');
  assertNoProblems(page);
});

test('rename, then log out', async () => {
  const page = await chrome.visitor(app.base, { viewport: MOBILE, name: 'logout' });
  const user = { mobile: newMobile(), password: 'a-long-password' };
  await register(page, app, user);
  await headerShowsUser(page, user.mobile);

  await page.goto('/my.html');
  await page.locator('#my-name', { hasText: user.mobile }).waitFor();
  await shot(page, 'accounts-05-my');
  await page.getByRole('link', { name: '修改个人信息' }).click();
  const name = '旅行家' + user.mobile.slice(-4);
  await page.getByLabel('用户名', { exact: true }).fill(name);
  await page.getByRole('button', { name: '保存用户名' }).click();
  await page.getByText('用户名已保存').waitFor();
  await headerShowsUser(page, name);
  await shot(page, 'accounts-06-profile-renamed');

  await page.goto('/my.html');
  await page.locator('#my-name', { hasText: name }).waitFor();
  await page.getByRole('button', { name: '退出登录' }).click();
  await page.waitForURL(/\/index\.html$/);
  await page.locator('.site-header').getByRole('link', { name: '登录' }).waitFor();
  const session = await page.request.get('/api/v1.0/session');
  assert.equal(session.status(), 401, 'the session is gone');
  await page.goto('/my.html');
  await page.waitForURL(/\/login\.html\?next=%2Fmy\.html$/);

  await login(page, { ...user, next: '/my.html' });
  await page.locator('#my-name', { hasText: name }).waitFor();
  assertNoProblems(page);
});

// Last in this file: it uses up the captchas of the one client address all
// of its pages come from.
test('too many captchas: the register page shows the server message, not a broken image', async () => {
  const page = await chrome.visitor(app.base, { viewport: DESKTOP, name: 'captcha-limit' });
  await page.goto('/register.html');
  await currentCaptcha(page, app);
  // This client's captchas (per client, 10 minutes) used up; the app-wide
  // per-second limit may refuse some on the way, which costs nothing.
  const { ok, last } = await page.evaluate(async () => {
    const captcha = () => fetch(`/api/v1.0/imagecode/${crypto.randomUUID()}`);
    let ok = 0;
    for (let i = 0; i < 300; i++) {
      const r = await captcha();
      if (r.ok) { ok += 1; continue; }
      if (r.status !== 429) return { ok, last: { status: r.status } };
      // The app-wide limit's window is one second: refused again after
      // that, it is this client's limit.
      await new Promise((done) => setTimeout(done, 1100));
      const again = await captcha();
      if (again.ok) { ok += 1; continue; }
      return { ok, last: again.status === 429 ? await again.json() : { status: again.status } };
    }
    return { ok, last: null };
  });
  assert.ok(last && last.errno === '4201', `the client's captchas ran out after ${ok}: ${JSON.stringify(last)}`);
  await page.getByRole('button', { name: '图片验证码，点击换一张' }).click();
  await page.getByRole('alert').getByText(last.errmsg).waitFor();
  assert.equal(await page.locator('#captcha-img').getAttribute('data-uuid'), null, 'no stale image stays');
  await shot(page, 'accounts-07-captcha-limit');
});
