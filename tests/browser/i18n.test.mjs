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
  for (const st of ['WAIT_ACCEPT', 'WAIT_COMMENT', 'COMPLETE', 'REJECTED', 'CANCELED']) assert.ok(keys.has(`status.${st}`), st);
});
