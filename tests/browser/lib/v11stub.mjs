// API v1.1 (its routes and fields in openapi.yaml, issues 15 and 17) played
// inside the browser on top of the real app, so the pages' v1.1 paths can be
// tested before (and independently of) the server's: reads go to the real
// app and gain the v1.1 fields from `fake`; the landlord's new routes are
// answered from `fake` (a small model of one house's state). Every API call
// the page makes is recorded in `fake.calls`.
//
// fake.houses: Map(house id -> {
//   published: bool, rating: number|null, rating_count,
//   images: [{image_id, url}] | null (null: made from the real img_urls on first read),
//   blocked: [{start_date, end_date}], booked: [{start_date, end_date}] (added to the real ones),
//   comments: [...] (replace the real ones when set), conflict: [nights] (POST blocked → 4004),
//   title, price (fen; set by PUT /houses/:id) })
// fake.searchError(query) -> {errno, errmsg} | null: the answer to a search (4103 etc.).

const OK = { errno: '0', errmsg: '成功' };

function nightsOf(list) {
  const out = new Set();
  for (const r of list) {
    for (let d = r.start_date; d < r.end_date; d = nextDay(d)) out.add(d);
  }
  return out;
}
function nextDay(s) {
  const [y, m, d] = s.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}
/** One range per night (what a server may well send; the pages merge them). */
const asRanges = (nights) => [...nights].sort().map((d) => ({ start_date: d, end_date: nextDay(d) }));

export function newFake() {
  return { houses: new Map(), calls: [], searchError: () => null };
}

export function fakeHouse(fake, id, init = {}) {
  const f = { published: true, rating: null, rating_count: 0, images: null, blocked: [], booked: [], comments: null, conflict: [], ...init };
  fake.houses.set(Number(id), f);
  return f;
}

/** Adds v1.1 fields to a HouseItem. */
function item(fake, h, { withPublished = false } = {}) {
  const f = fake.houses.get(Number(h.house_id));
  if (!f) return { ...h, rating: null, rating_count: 0, ...(withPublished ? { published: true } : {}) };
  const out = { ...h, rating: f.rating, rating_count: f.rating_count };
  if (withPublished) out.published = f.published;
  if (f.title) out.title = f.title;
  if (f.price !== undefined) out.price = f.price;
  if (f.images && f.images.length) out.img_url = f.images[0].url;
  return out;
}

export async function stubV11(page, fake) {
  await page.route((url) => url.pathname.startsWith('/api/v1.0/'), async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    const path = url.pathname.slice('/api/v1.0'.length);
    const method = req.method();
    let body;
    try { body = req.postData() ? JSON.parse(req.postData()) : undefined; } catch { body = req.postData(); }
    fake.calls.push({ method, path, query: Object.fromEntries(url.searchParams), body });
    const reply = (json, status = 200) => route.fulfill({ status, contentType: 'application/json', json });
    const real = async () => {
      const resp = await route.fetch();
      return { resp, json: await resp.json() };
    };
    let m;

    if (method === 'GET' && (m = path.match(/^\/houses\/(\d+)$/))) {
      const { resp, json } = await real();
      const f = fake.houses.get(Number(m[1]));
      if (String(json.errno) === '0' && f) {
        const h = json.data.house;
        if (!f.images) f.images = (h.img_urls || []).map((u, i) => ({ image_id: 100 + i, url: u }));
        h.images = f.images.map((x) => ({ ...x }));
        h.img_urls = f.images.map((x) => x.url);
        h.published = f.published;
        h.blocked = asRanges(nightsOf(f.blocked));
        h.booked = [...(h.booked || []), ...f.booked];
        h.rating = f.rating;
        h.rating_count = f.rating_count;
        if (f.comments) h.comments = f.comments;
        else h.comments = (h.comments || []).map((c) => ({ ...c, rating: c.rating ?? null }));
        if (f.title) h.title = f.title;
        if (f.price !== undefined) h.price = f.price;
        if (!f.published && Number(json.data.user_id) !== Number(h.user_id)) {
          return reply({ errno: '4002', errmsg: '房屋不存在' }, 404);
        }
      }
      return route.fulfill({ response: resp, json });
    }
    if (method === 'GET' && path === '/houses') {
      const err = fake.searchError(Object.fromEntries(url.searchParams));
      if (err) return reply(err, 400);
      // sk=rating: the real app's order by newest, sorted here by the fake ratings
      // (unrated last, ties by house id), so it works whatever the server knows.
      const byRating = url.searchParams.get('sk') === 'rating';
      if (byRating) url.searchParams.set('sk', 'new');
      const resp = await route.fetch({ url: url.toString() });
      const json = await resp.json();
      if (String(json.errno) === '0') {
        json.data.houses = json.data.houses.map((h) => item(fake, h));
        if (byRating) {
          const r = (h) => (h.rating === null || h.rating === undefined ? -1 : Number(h.rating));
          json.data.houses.sort((a, b) => r(b) - r(a) || a.house_id - b.house_id);
        }
      }
      return route.fulfill({ response: resp, json });
    }
    if (method === 'GET' && (path === '/house/index' || path === '/user/houses')) {
      const { resp, json } = await real();
      if (String(json.errno) === '0') {
        if (Array.isArray(json.data)) json.data = json.data.map((h) => item(fake, h));
        else json.data.houses = json.data.houses.map((h) => item(fake, h, { withPublished: true }));
      }
      return route.fulfill({ response: resp, json });
    }

    // The landlord's routes (owner-only checks are the server's business, not the pages').
    if ((m = path.match(/^\/houses\/(\d+)(\/.*)?$/)) && fake.houses.has(Number(m[1]))) {
      const f = fake.houses.get(Number(m[1]));
      const rest = m[2] || '';
      if (method === 'PUT' && rest === '') {
        f.title = body.title;
        f.price = Math.round(Number(body.price) * 100);
        f.edit = body;
        return reply(OK);
      }
      if (method === 'PUT' && rest === '/status') {
        if (typeof body.published !== 'boolean') return reply({ errno: '4103', errmsg: 'published 必须是布尔值' }, 400);
        f.published = body.published;
        return reply(OK);
      }
      if (method === 'PUT' && rest === '/images/order') {
        const have = f.images.map((x) => String(x.image_id)).sort().join();
        const got = (body.image_ids || []).map(String);
        if ([...got].sort().join() !== have) return reply({ errno: '4103', errmsg: 'image_ids 必须正好是这套房源的全部图片' }, 400);
        f.images = got.map((id) => f.images.find((x) => String(x.image_id) === id));
        return reply(OK);
      }
      if (method === 'DELETE' && (m = rest.match(/^\/images\/([^/]+)$/))) {
        const before = f.images.length;
        f.images = f.images.filter((x) => String(x.image_id) !== decodeURIComponent(m[1]));
        return f.images.length < before ? reply(OK) : reply({ errno: '4002', errmsg: '图片不存在' }, 404);
      }
      if (rest === '/blocked' && (method === 'POST' || method === 'DELETE')) {
        const nights = nightsOf([body]);
        const have = nightsOf(f.blocked);
        if (method === 'POST') {
          const taken = nightsOf(f.booked);
          if ([...nights].some((d) => taken.has(d) || f.conflict.includes(d))) {
            return reply({ errno: '4004', errmsg: '所选日期已有订单，不能关闭' }, 409);
          }
          for (const d of nights) have.add(d);
        } else {
          for (const d of nights) have.delete(d);
        }
        f.blocked = asRanges(have);
        return reply(OK);
      }
    }
    return route.continue();
  });
}

/** The recorded calls with this method and path (a string or a RegExp). */
export function callsTo(fake, method, path) {
  return fake.calls.filter((c) => c.method === method && (path instanceof RegExp ? path.test(c.path) : c.path === path));
}
