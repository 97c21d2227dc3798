// localstripe (a stateful Stripe test server from PyPI, pinned in
// tests/localstripe) for the payment pages: installed into a venv under
// target/ when missing, started on a free loopback port, stopped by stop().
// It also serves the Stripe.js the pages load (/js.stripe.com/v3/), whose
// card element, confirmCardSetup and confirmCardPayment talk to it.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { ROOT, spawnAndWait, killGroup } from './app.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startLocalstripe() {
  const bin = execFileSync(path.join(ROOT, 'tests/localstripe/install'), { encoding: 'utf8' }).trim();
  const port = await freePort();
  const log = [];
  const { child } = await spawnAndWait(bin, ['--port', String(port), '--from-scratch'], { PYTHONUNBUFFERED: '1' },
    /(Running on)/, 'localstripe', log);
  child.removeAllListeners('exit');
  const origin = `http://127.0.0.1:${port}`;
  const webhookSecret = 'whsec_' + crypto.randomBytes(12).toString('hex');
  return {
    origin,
    webhookSecret,
    log: () => log.join(''),
    /** The app's environment for payments on, against this server. */
    appEnv: {
      SPIN_VARIABLE_STRIPE_SECRET_KEY: 'sk_test_browser',
      SPIN_VARIABLE_STRIPE_PUBLISHABLE_KEY: 'pk_test_browser',
      SPIN_VARIABLE_STRIPE_WEBHOOK_SECRET: webhookSecret,
      SPIN_VARIABLE_STRIPE_API_ORIGIN: origin,
      SPIN_VARIABLE_STRIPE_JS_URL: `${origin}/js.stripe.com/v3/`,
    },
    /** Has localstripe send its events to the app's webhook, signed with webhookSecret. */
    async sendEventsTo(appBase) {
      const resp = await fetch(`${origin}/_config/webhooks/ihome`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ url: `${appBase}/api/v1.0/payments/webhook`, secret: webhookSecret }),
      });
      if (!resp.ok) throw new Error(`localstripe webhook config: HTTP ${resp.status}`);
    },
    /** A PaymentIntent as Stripe holds it. */
    async paymentIntent(id) {
      const resp = await fetch(`${origin}/v1/payment_intents/${id}`, { headers: { Authorization: 'Bearer sk_test_browser' } });
      return resp.json();
    },
    stop() {
      killGroup(child);
    },
  };
}
