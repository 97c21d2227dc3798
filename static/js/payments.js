// Paying for a booking in the pages, when the app has payments on
// (GET /payments/config). The server does everything it can (the hold,
// capture, release and refunds); the page does only the two steps Stripe
// keeps in the browser, through Stripe.js from the app's configured js_url:
//   1. saving the card: POST /payments/setup gives a SetupIntent's secret,
//      confirmCardSetup turns the card element into a PaymentMethod (a card
//      that asks for 3-D Secure when saved asks here);
//   2. 3-D Secure at payment: when POST /orders answers with a
//      client_secret, confirmCardPayment completes it and POST
//      /orders/:id/payment tells the app to read the result from Stripe.
// Card numbers never reach the app: only the PaymentMethod id does.
import { t } from './i18n.js';
import { api, ApiError } from './api.js';
import { html, render } from './ui.js';

/** Loads Stripe.js once per page. */
let stripeJs = null;
function loadStripeJs(url) {
  if (!stripeJs) {
    stripeJs = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = url;
      s.onload = () => (typeof window.Stripe === 'function' ? resolve(window.Stripe) : reject(new Error('no Stripe')));
      s.onerror = () => reject(new Error('Stripe.js did not load'));
      document.head.appendChild(s);
    });
  }
  return stripeJs;
}

/** A failure of a Stripe.js step, shown like the API's errors. */
function cardError(result) {
  return new ApiError('card', (result.error && result.error.message) || t('pay.failed'));
}

/**
 * The card form in `box` when payments are on, else null (the booking goes
 * through as before). Throws an ApiError when Stripe.js can't be loaded,
 * so the page says so instead of taking a booking it cannot pay for.
 */
export async function cardPayment(box) {
  const config = await api('/payments/config');
  if (!config || !config.enabled) return null;
  render(box, html`<h2>${t('pay.heading')}</h2>
    <p class="muted">${t('pay.note')}</p>
    <div class="field"><div id="card-element" class="card-element"></div></div>`);
  box.hidden = false;
  let Stripe;
  try {
    Stripe = await loadStripeJs(config.js_url);
  } catch {
    throw new ApiError('card', t('pay.unavailable'));
  }
  const stripe = Stripe(config.publishable_key);
  const card = stripe.elements().create('card');
  card.mount(box.querySelector('#card-element'));

  return {
    /** Saves the card; resolves to the PaymentMethod id POST /orders takes. */
    async paymentMethod() {
      const setup = await api('/payments/setup', { method: 'POST' });
      const result = await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
      if (result.error || !result.setupIntent) throw cardError(result);
      const pm = result.setupIntent.payment_method;
      return typeof pm === 'string' ? pm : pm && pm.id;
    },
    /**
     * Finishes a booking the card's bank wants to confirm (3-D Secure):
     * nothing to do when POST /orders gave no client_secret.
     */
    async complete(made) {
      if (!made || !made.client_secret) return;
      const result = await stripe.confirmCardPayment(made.client_secret);
      if (result.error) {
        // Not authorized: withdraw the request at once so its nights don't
        // stay held until the payment deadline (nothing was charged).
        await api(`/orders/${made.order_id}/status`, { method: 'PUT', body: { action: 'cancel' } }).catch(() => {});
        throw cardError(result);
      }
      await api(`/orders/${made.order_id}/payment`, { method: 'POST' });
    },
  };
}
