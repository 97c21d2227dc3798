// What a person does on the site, step by step, through the real pages.
import assert from 'node:assert/strict';

export async function waitFor(fn, { timeout = 10_000, interval = 150, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The uuid of the captcha image now shown on register.html, once the app has stored it. */
export async function currentCaptcha(page, app) {
  const src = await page.locator('#captcha-img').getAttribute('src');
  const uuid = src.split('/').pop();
  const code = await waitFor(() => app.captchaCode(uuid), { what: `captcha ${uuid} in the KV store` });
  return { uuid, code };
}

/** Registers through register.html (captcha from the state store, SMS code from the gateway). */
export async function register(page, app, { mobile, password, shotName } = {}) {
  await page.goto('/register.html');
  await page.getByLabel('手机号').fill(mobile);
  const { code } = await currentCaptcha(page, app);
  await page.getByLabel('图片验证码', { exact: true }).fill(code);
  await page.getByRole('button', { name: '获取验证码' }).click();
  await page.locator('#sms-hint', { hasText: '验证码已发送' }).waitFor();
  const sms = await waitFor(() => app.smsCode(mobile), { what: `an SMS to ${mobile}` });
  await page.getByLabel('短信验证码').fill(sms);
  await page.getByLabel('密码', { exact: true }).fill(password);
  await page.getByLabel('确认密码').fill(password);
  if (shotName) await shotName(page);
  await page.getByRole('button', { name: '注册', exact: true }).click();
  await page.waitForURL(/\/index\.html$|\/$/);
}

export async function login(page, { mobile, password, next = '' }) {
  await page.goto('/login.html' + (next ? '?next=' + encodeURIComponent(next) : ''));
  await page.getByLabel('手机号').fill(mobile);
  await page.getByLabel('密码').fill(password);
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.endsWith('/login.html'));
}

export async function headerShowsUser(page, name) {
  const link = page.locator('.site-header a.nav-user');
  await link.waitFor();
  assert.match(await link.textContent(), new RegExp(name.slice(0, 5)));
}
