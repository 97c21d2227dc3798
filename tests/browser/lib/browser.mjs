// Debian's Chromium driven by playwright-core, plus helpers the tests share.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { ROOT } from './app.mjs';
import { assertAccessible } from './a11y.mjs';

export const SHOTS = path.join(ROOT, 'test-output/browser');
export const MOBILE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 860 };

/**
 * The app to test: the real one (lib/app.mjs) unless IHOME_BROWSER_APP names
 * another module. `options.env` adds to the host's environment.
 */
export async function startApp(options) {
  const mod = await import(process.env.IHOME_BROWSER_APP || './app.mjs');
  return mod.startApp(options);
}

/**
 * Every test file's set-up in one place: before its tests, the app (unless
 * `app: false`: the file starts its own) and Chromium; after them, both
 * stopped. Returns `{ app, chrome }`, stand-ins the file uses at top level
 * that forward to the real ones once `before` has run. `enabled: false`
 * starts nothing (a file whose tests are switched off).
 */
export function appAndBrowser({ app: withApp = true, enabled = true, options } = {}) {
  const started = {};
  before(async () => {
    if (!enabled) return;
    if (withApp) started.app = await startApp(options);
    started.chrome = await launch();
  });
  after(async () => {
    await started.chrome?.close();
    await started.app?.stop();
  });
  const standIn = (name) => new Proxy({}, {
    get(_, prop) {
      const real = started[name];
      if (!real) throw new Error(`${name}.${String(prop)} used before the test file's before() ran`);
      const value = real[prop];
      return typeof value === 'function' ? value.bind(real) : value;
    },
  });
  return { app: standIn('app'), chrome: standIn('chrome') };
}

export async function launch() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--lang=zh-CN'];
  // playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
  const browser = await chromium.launch({ executablePath, args, headless: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  return {
    browser,
    /** A fresh visitor (own cookies). Page errors and console errors are collected. */
    async visitor(base, { viewport = MOBILE, name = 'visitor' } = {}) {
      const context = await browser.newContext({ baseURL: base, viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', deviceScaleFactor: 1 });
      context.setDefaultTimeout(30_000); // generous: Argon2 and first-use compiles on a busy 2-core machine
      const page = await context.newPage();
      page.problems = [];
      page.on('pageerror', (e) => page.problems.push(`[${name}] page error: ${e.message}`));
      page.on('console', (m) => {
        // HTTP errors are part of the API (truthful statuses); Chromium logs each one.
        if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of \d{3}/.test(m.text())) {
          page.problems.push(`[${name}] console: ${m.text()}`);
        }
      });
      return page;
    },
    async close() {
      await browser.close();
    },
  };
}

/**
 * Saves a (full-page) screenshot as test-output/browser/<name>.png, and
 * checks the page with axe-core (WCAG 2.1 A/AA, serious and critical).
 */
export async function shot(page, name, { fullPage = true, axe = true } = {}) {
  if (axe) await assertAccessible(page, name);
  await page.evaluate(async (top) => {
    await (document.fonts && document.fonts.ready);
    if (top) window.scrollTo(0, 0); // sticky header at the top of a full-page shot
  }, fullPage);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** A small valid PNG (a w×h gradient with a coloured square). */
export function makePng(w = 240, h = 160, hue = 0) {
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) {
      const inSq = x > w * 0.3 && x < w * 0.7 && y > h * 0.3 && y < h * 0.7;
      row[1 + x * 3] = inSq ? 255 : (x * 255) / w;
      row[2 + x * 3] = inSq ? 200 - hue : (y * 255) / h;
      row[3 + x * 3] = inSq ? hue : 160;
    }
    rows.push(row);
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** A small valid JPEG, drawn on a canvas by the browser itself. */
export async function makeJpeg(page, w = 320, h = 200) {
  const b64 = await page.evaluate(([w, h]) => {
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, w, h);
    grad.addColorStop(0, '#f6d365'); grad.addColorStop(1, '#fda085');
    g.fillStyle = grad; g.fillRect(0, 0, w, h);
    g.fillStyle = '#ffffff'; g.fillRect(w * 0.35, h * 0.45, w * 0.3, h * 0.4);
    g.beginPath(); g.moveTo(w * 0.3, h * 0.47); g.lineTo(w * 0.5, h * 0.2); g.lineTo(w * 0.7, h * 0.47); g.fill();
    return c.toDataURL('image/jpeg', 0.85).split(',')[1];
  }, [w, h]);
  return Buffer.from(b64, 'base64');
}

let mobileSeq = 0;
/** A fresh, valid mobile number (unique per run and test file). */
export function newMobile() {
  mobileSeq += 1;
  const n = (Date.now() % 1e6) * 100 + (process.pid % 10) * 10 + mobileSeq;
  return '13' + String(n % 1e9).padStart(9, '0');
}

/** A PRC resident id with a correct ISO 7064 MOD 11-2 check digit. */
export function idCard(birth = '19900307', seq = '123') {
  const body = '110101' + birth + seq;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((s, d, i) => s + Number(d) * w[i], 0);
  return body + '10X98765432'[sum % 11];
}

export function dateAfter(days) {
  const d = new Date(Date.now() + 8 * 3600_000 + days * 86400_000); // the app's default zone is UTC+8
  return d.toISOString().slice(0, 10);
}

/** Fails with every page/console error the visitors ran into. */
export function assertNoProblems(...pages) {
  const all = pages.flatMap((p) => p.problems);
  if (all.length) throw new Error('browser errors:\n' + all.join('\n'));
}
