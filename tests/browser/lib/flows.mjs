// What a person does on the site, step by step, through the real pages.
import crypto from 'node:crypto';
import assert from 'node:assert/strict';

export async function waitFor(fn, { timeout = 20_000, interval = 150, what = 'condition' } = {}) {
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
export async function currentCaptcha(page, app, { after = '' } = {}) {
  // The page fetches the image itself and marks it with its uuid once shown.
  const uuid = await waitFor(async () => {
    const id = await page.locator('#captcha-img').getAttribute('data-uuid');
    return id && id !== after ? id : null;
  }, { what: 'a captcha image on the page' });
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

/* ---------- the same steps through the API (for setting the scene quickly) ---------- */

async function envelope(resp, what) {
  const body = await resp.json().catch(() => null);
  if (!body || String(body.errno) !== '0') {
    throw new Error(`${what}: HTTP ${resp.status()} ${JSON.stringify(body)}`);
  }
  return body.data;
}

/** Registers `mobile` through the API in `page`'s cookie jar (the page is then logged in). */
export async function apiRegister(page, app, { mobile, password }) {
  const api = page.request;
  const uuid = crypto.randomUUID();
  const img = await api.get(`/api/v1.0/imagecode/${uuid}`);
  assert.equal(img.status(), 200, 'captcha image');
  const code = await app.captchaCode(uuid);
  await envelope(await api.get(`/api/v1.0/smscode/${mobile}?text=${encodeURIComponent(code)}&id=${uuid}`), 'smscode');
  const sms = await waitFor(() => app.smsCode(mobile), { what: `an SMS to ${mobile}` });
  return envelope(await api.post('/api/v1.0/users', { data: { mobile, password, sms_code: sms } }), 'register');
}

export async function apiVerify(page, { realName = '李四', idCard }) {
  return envelope(await page.request.post('/api/v1.0/user/auth', { data: { real_name: realName, id_card: idCard } }), 'real-name auth');
}

export async function apiPublish(page, house = {}) {
  const data = {
    title: '测试房源', price: '188', area_id: 4, address: '北京市海淀区中关村大街 1 号', room_count: 1,
    acreage: 40, unit: '一室一厅', capacity: 2, beds: '双人床 1 张', deposit: '200', min_days: 1, max_days: 0,
    facility: [1, 2, 3], ...house,
  };
  return (await envelope(await page.request.post('/api/v1.0/houses', { data }), 'publish')).house_id;
}

export async function apiUpload(page, houseId, png) {
  return envelope(await page.request.post(`/api/v1.0/houses/${houseId}/images`, {
    multipart: { house_image: { name: 'photo.png', mimeType: 'image/png', buffer: png } },
  }), 'house image');
}

export async function apiBook(page, houseId, start, end) {
  return envelope(await page.request.post('/api/v1.0/orders', { data: { house_id: houseId, start_date: start, end_date: end } }), 'book');
}
