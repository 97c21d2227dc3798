// Every user-visible string lives in static/js/i18n.js: no Chinese text in
// the pages or the other scripts, and every key they use exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/app.mjs';

const STATIC = path.join(ROOT, 'static');
const files = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]);
const sources = files(STATIC).filter((f) => /\.(html|js)$/.test(f) && !f.endsWith(path.join('js', 'i18n.js')));
const i18n = fs.readFileSync(path.join(STATIC, 'js/i18n.js'), 'utf8');
const keys = new Set([...i18n.matchAll(/^\s*'([\w.]+)':/gm)].map((m) => m[1]));
const CJK = /[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]/;

test('no hard-coded Chinese outside i18n.js', () => {
  for (const f of sources) {
    fs.readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$|\/\*.*?\*\/|^\s*\*.*$/g, ''); // comments may explain in any language
      assert.ok(!CJK.test(code), `${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
    });
  }
});

test('every i18n key used by the pages exists', () => {
  const used = new Set();
  for (const f of sources) {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/data-i18n(?:-[\w-]+)?="([\w.]+)"/g)) used.add(m[1]);
    for (const m of text.matchAll(/\bt\('([\w.]+)'/g)) if (!m[1].endsWith('.')) used.add(m[1]); // 'status.' + x: checked below
  }
  assert.ok(used.size > 100, `found ${used.size} keys in use`);
  const missing = [...used].filter((k) => !keys.has(k));
  assert.deepEqual(missing, [], 'keys missing from i18n.js');
  for (let i = 1; i <= 23; i++) assert.ok(keys.has(`facility.${i}`), `facility ${i}`);
  for (const st of ['WAIT_ACCEPT', 'WAIT_COMMENT', 'COMPLETE', 'REJECTED', 'CANCELED', 'EXPIRED']) assert.ok(keys.has(`status.${st}`), st);
  // 'policy.' + p, 'policyRule.' + p (ui.js) and 'policyOption.' + p (house-form.js) for each cancellation policy.
  for (const p of ['flexible', 'moderate', 'strict']) {
    for (const k of ['policy', 'policyRule', 'policyOption']) assert.ok(keys.has(`${k}.${p}`), `${k}.${p}`);
  }
});

test('both languages have every key', async () => {
  // The module reads the visitor's choice from location/localStorage; neither exists here.
  const { messages } = await import(path.join(STATIC, 'js/i18n.js'));
  const zh = Object.keys(messages['zh-CN']);
  const en = Object.keys(messages.en);
  // Facility names are the server's seed names (like area names): Chinese in both languages.
  const notInEn = zh.filter((k) => !(k in messages.en) && !k.startsWith('facility.'));
  const notInZh = en.filter((k) => !(k in messages['zh-CN']));
  assert.deepEqual(notInEn, [], 'keys missing from the English table');
  assert.deepEqual(notInZh, [], 'keys missing from the Chinese table');
  for (const k of [...zh, ...en]) {
    for (const table of [messages['zh-CN'], messages.en]) {
      if (!(k in table)) continue;
      assert.equal(typeof table[k], 'string', k);
      assert.ok(table[k].trim(), `${k} is empty`);
    }
    // The same {placeholders} in both, so a translation never drops a value.
    if (k in messages.en && k in messages['zh-CN']) {
      const ph = (v) => [...v.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(ph(messages.en[k]), ph(messages['zh-CN'][k]), `${k}: placeholders differ`);
    }
  }
});
