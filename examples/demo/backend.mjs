// Demo backend for `make demo`: a tiny HTTP service that says who it is.
// usage: node examples/demo/backend.mjs NAME PORT
import http from 'node:http';

const [name = 'legacy', port = '3000'] = process.argv.slice(2);
let served = 0;

// /api/catalog/ID: a product as the legacy monolith renders it. The new
// "catalog" service answers the same document with its keys in another order
// (not a difference) and one bug: items whose id ends in 7 get the price
// without VAT. Every instance stamps generated_at and a trace token, which
// differ on every call: the shadow's secondary lets Ficus learn that as noise.
function catalog(id) {
  const base = ((id * 37) % 90) + 9.99;
  const price = name === 'catalog' && id % 10 === 7 ? +(base / 1.2).toFixed(2) : base;
  const doc = {
    id,
    name: `Item ${id}`,
    price,
    currency: 'EUR',
    tags: ['demo', id % 2 ? 'odd' : 'even'],
    generated_at: new Date().toISOString(),
    trace: Math.random().toString(36).slice(2),
  };
  if (name !== 'catalog') return doc;
  return Object.fromEntries(Object.entries(doc).reverse());
}
http
  .createServer((req, res) => {
    let body = 0;
    req.on('data', (d) => (body += d.length));
    req.on('end', () => {
      served++;
      const m = /^\/api\/catalog\/(\d+)/.exec(req.url);
      if (m) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-service': name });
        res.end(JSON.stringify(catalog(Number(m[1]))) + '\n');
        return;
      }
      const payload = JSON.stringify({
        service: name,
        method: req.method,
        path: req.url,
        request_id: req.headers['x-request-id'] || null,
        forwarded_for: req.headers['x-forwarded-for'] || null,
        body_bytes: body,
        served,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-service': name });
      res.end(payload + '\n');
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.error(`demo backend ${name} on 127.0.0.1:${port}`));
