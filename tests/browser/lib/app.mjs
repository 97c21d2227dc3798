// Starts the real app for a browser test through the tests crate's launcher
// (the Rust harness): a Spin host running the repo's spin.toml on a free
// loopback port with a fresh state dir, a loopback SMS gateway (records the
// codes the app sends) and fdfs-proxy (the image store). Everything is
// stopped by app.stop().
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const STARTUP_MS = 240_000;

/** Runs `sql` on the SQLite file `db` through python3's sqlite3; returns rows as arrays. */
export function sqlite(db, sql, params = []) {
  const script = `
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
rows = con.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()
con.commit()
print(json.dumps([[c.decode('utf-8', 'replace') if isinstance(c, bytes) else c for c in r] for r in rows]))
`;
  const out = execFileSync('python3', ['-c', script, db, sql, JSON.stringify(params)], { encoding: 'utf8' });
  return JSON.parse(out);
}

/**
 * Starts the app through the tests crate's launcher (target/release/ihome-app
 * --serve, tests/src/bin/ihome-app.rs): the same harness as the Rust API
 * suite, so the host (edge-host, or real Spin with IHOME_TEST_HOST=spin and
 * IHOME_SPIN), fdfs-proxy, the loopback SMS gateway, free ports and process
 * groups are handled in one place. `env` adds to the host's environment
 * (e.g. `SPIN_VARIABLE_*`); `payments` turns payments on against a
 * localstripe the launcher starts beside the app.
 */
export async function startApp({ env = {}, payments = false } = {}) {
  const bin = process.env.IHOME_APP || path.join(ROOT, 'target/release/ihome-app');
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build it (cargo build --release -p ihome-tests --bin ihome-app)`);
  const args = ['--serve'];
  if (payments) args.push('--payments');
  for (const [name, value] of Object.entries(env)) args.push('--env', `${name}=${value}`);
  const child = spawn(bin, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const log = [];
  child.stderr.on('data', (d) => log.push(d.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let exited = null;
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  child.on('exit', (code) => {
    exited = new Error(`ihome-app exited (${code}); its output:\n${log.join('')}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  const nextLine = () => new Promise((resolve, reject) => {
    if (exited) reject(exited); else waiting.push({ resolve, reject });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), STARTUP_MS);
  let ready;
  try {
    ready = JSON.parse(await nextLine());
  } finally {
    clearTimeout(timer);
  }
  // One command at a time: each answer is the next line.
  let queue = Promise.resolve();
  const ask = (command) => {
    const answer = queue.then(() => { const line = nextLine(); child.stdin.write(`${command}\n`); return line; });
    queue = answer.catch(() => {});
    return answer.then((line) => JSON.parse(line));
  };
  const stateDir = ready.state_dir;

  return {
    base: ready.base,
    stateDir,
    /** With `payments`: localstripe's origin (Stripe's API and Stripe.js), else null. */
    stripe: ready.stripe || null,
    log: () => log.join(''),
    url: (p) => ready.base + p,
    /** The captcha text of `uuid`, read from the KV store like an operator would. */
    async captchaCode(uuid) {
      const { code } = await ask(`captcha ${uuid}`);
      if (!code) throw new Error(`no captcha:${uuid} in the KV store`);
      return code;
    },
    /** The last SMS code the loopback gateway received for `mobile`. */
    async smsCode(mobile) {
      const { code } = await ask(`sms ${mobile}`);
      if (!code) throw new Error(`the SMS gateway received no code for ${mobile}`);
      return code;
    },
    /** SQL on the app database (<state>/sqlite_db.db). */
    db(sql, params) {
      return sqlite(path.join(stateDir, 'sqlite_db.db'), sql, params);
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.stdin.end(); // ihome-app then stops the host, fdfs-proxy and the gateway
      await gone;
    },
  };
}
