// Demo backend for `make demo`: a tiny HTTP service that says who it is.
// usage: node examples/demo/backend.mjs NAME PORT
import http from 'node:http';

const [name = 'legacy', port = '3000'] = process.argv.slice(2);
let served = 0;
http
  .createServer((req, res) => {
    let body = 0;
    req.on('data', (d) => (body += d.length));
    req.on('end', () => {
      served++;
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
