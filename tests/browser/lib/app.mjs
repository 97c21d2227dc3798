// Starts the real app for a browser test: a Spin host (see hostCommand) running the
// repo's spin.toml on a free loopback port with a fresh state dir, a loopback
// SMS gateway (records the codes the app sends) and fdfs-proxy (the image
// store). Everything is stopped by app.stop().
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

function startSmsGateway() {
  const codes = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (req.method === 'POST' && msg.mobile && msg.code) {
          if (!codes.has(msg.mobile)) codes.set(msg.mobile, []);
          codes.get(msg.mobile).push(String(msg.code));
        }
      } catch { /* not JSON: ignored */ }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    origin: `http://127.0.0.1:${server.address().port}`,
    codes,
    close: () => new Promise((r) => server.close(r)),
  })));
}

/** SIGKILL to `child` and everything in its process group. */
export function killGroup(child) {
  try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
}

/** Spawns `bin` and resolves with the first stdout match of `re` (its group 1). */
export function spawnAndWait(bin, args, env, re, name, log) {
  return new Promise((resolve, reject) => {
    // Its own process group, which killGroup ends whole: `spin up` serves
    // from a child (`spin trigger http`) that outlives a kill of the parent.
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${name} did not start in time; its output:\n${log.join('')}`));
    }, STARTUP_MS);
    child.stdout.on('data', (d) => {
      log.push(d.toString());
      out += d.toString();
      const m = re.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1] }); }
    });
    child.stderr.on('data', (d) => log.push(d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready; its output:\n${log.join('')}`));
    });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/**
 * The Spin host the app runs under: our edge-host by default, the real Spin
 * CLI (`spin up`, binary from IHOME_SPIN or PATH) when IHOME_TEST_HOST=spin.
 * Both print `Serving http://…` once they listen.
 */
function hostCommand() {
  const which = process.env.IHOME_TEST_HOST || 'edge-host';
  if (which === 'spin') return { name: 'spin', bin: process.env.IHOME_SPIN || 'spin', args: ['up'], env: {} };
  if (which !== 'edge-host') throw new Error(`IHOME_TEST_HOST=${which}: expected edge-host or spin`);
  const bin = process.env.IHOME_EDGE_HOST || path.join(ROOT, 'target/release/edge-host');
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build it (cargo build --release -p edge-host) and the components (scripts/build-components)`);
  return { name: 'edge-host', bin, args: [], env: { EDGE_HOST_CACHE_DIR: path.join(ROOT, 'target/edge-host-cache') } };
}

/** Starts the app; `env` adds to the host's environment (e.g. `SPIN_VARIABLE_*`). */
export async function startApp({ env = {} } = {}) {
  const hostCmd = hostCommand();
  const fdfsBin = process.env.IHOME_FDFS_PROXY || path.join(ROOT, 'target/release/fdfs-proxy');
  if (!fs.existsSync(fdfsBin)) throw new Error(`${fdfsBin} is missing: build it (cargo build --release -p fdfs-proxy)`);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ihome-browser-'));
  const imageDir = path.join(stateDir, 'images');
  fs.mkdirSync(imageDir);
  const log = [];
  const sms = await startSmsGateway();
  const fdfs = await spawnAndWait(fdfsBin, ['--listen', '127.0.0.1:0', '--state-dir', imageDir], {},
    /Listening on (http:\/\/127\.0\.0\.1:\d+)/, 'fdfs-proxy', log);
  fdfs.child.removeAllListeners('exit');
  let host;
  try {
    host = await spawnAndWait(hostCmd.bin,
      [...hostCmd.args, '--from', path.join(ROOT, 'spin.toml'), '--listen', '127.0.0.1:0', '--state-dir', stateDir], {
        ...hostCmd.env,
        SPIN_VARIABLE_SMS_GATEWAY_ORIGIN: sms.origin,
        SPIN_VARIABLE_FDFS_PROXY_ORIGIN: fdfs.url,
        ...env,
      }, /Serving (http:\/\/127\.0\.0\.1:\d+)/, hostCmd.name, log);
  } catch (e) {
    killGroup(fdfs.child);
    await sms.close();
    throw e;
  }
  host.child.removeAllListeners('exit');

  return {
    base: host.url,
    stateDir,
    log: () => log.join(''),
    url: (p) => host.url + p,
    /** The captcha text of `uuid`, read from the KV store like an operator would. */
    captchaCode(uuid) {
      const rows = sqlite(path.join(stateDir, 'sqlite_key_value.db'),
        "SELECT hex(value) FROM spin_key_value WHERE store = 'default' AND key = ?", [`captcha:${uuid}`]);
      if (!rows.length) throw new Error(`no captcha:${uuid} in the KV store`);
      const bytes = Buffer.from(rows[0][0], 'hex');
      // shared/src/store/spin_kv.rs: "ik1", the expiry (8 bytes, big-endian), then the JSON value.
      if (bytes.subarray(0, 3).toString('latin1') !== 'ik1') throw new Error(`captcha:${uuid} is not an ik1 entry`);
      return JSON.parse(bytes.subarray(3 + 8).toString('utf8')).code;
    },
    /** The last SMS code the loopback gateway received for `mobile`. */
    smsCode(mobile) {
      const list = sms.codes.get(mobile);
      if (!list || !list.length) throw new Error(`the SMS gateway received no code for ${mobile}`);
      return list[list.length - 1];
    },
    /** SQL on the app database (<state>/sqlite_db.db). */
    db(sql, params) {
      return sqlite(path.join(stateDir, 'sqlite_db.db'), sql, params);
    },
    async stop() {
      killGroup(host.child);
      killGroup(fdfs.child);
      await sms.close();
      if (!process.env.IHOME_KEEP_STATE) fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
