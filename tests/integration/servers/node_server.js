'use strict';
// Test HTTP/1.1 server on Node's `http` module, keep-alive.
//
// Usage: node node_server.js ADDR PORT   (ADDR: IPv4 or IPv6 literal)
//
// Routes (any method; a request body is read and its length reported):
//   /              200, small body with Content-Length
//   /chain[/...]   the same (the last tier of a chain whose middle tiers pass
//                  their incoming path on, e.g. chain_mid.py --pass-path)
//   /status/NNN    status NNN (no body for 1xx/204/304)
//   /chunked       chunked body; ?n=CHUNKS (default 4) ?delay_ms=D (default 2)
//                  between chunks; each chunk is its own write
//   /big           200, 204800-byte body with Content-Length
//   /slow?ms=N     200 after N ms (at most 60000)
//   /close         closes the connection without any response
//   anything else  404
const http = require('http');

const BIG = Buffer.alloc(204800, '0123456789abcdef');

function qint(params, name, def, lo, hi) {
  const v = parseInt(params.get(name) ?? String(def), 10);
  if (Number.isNaN(v)) return def;
  return Math.max(lo, Math.min(hi, v));
}

function reply(req, res, code, body, ctype = 'text/plain') {
  const headers = { 'Content-Type': ctype };
  const noBody = code === 204 || code === 304 || code < 200;
  if (!noBody) headers['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(code, headers);
  res.end(noBody ? undefined : body);
}

function handle(req, res, got) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  if (path === '/' || path === '/chain' || path.startsWith('/chain/')) {
    reply(req, res, 200, `hello from node (${got} body bytes)\n`);
  } else if (path.startsWith('/status/')) {
    const code = parseInt(path.slice(8), 10);
    if (!(code >= 100 && code <= 599)) reply(req, res, 400, 'bad status\n');
    else reply(req, res, code, `status ${code}\n`);
  } else if (path === '/chunked') {
    const n = qint(url.searchParams, 'n', 4, 1, 1000);
    const delay = qint(url.searchParams, 'delay_ms', 2, 0, 1000);
    res.writeHead(200, { 'Content-Type': 'text/plain' }); // no length: chunked
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.flushHeaders();
    let i = 0;
    const next = () => {
      if (i === n) {
        res.end();
        return;
      }
      i++;
      res.write(`chunk ${i} of ${n}\n`);
      if (delay) setTimeout(next, delay);
      else setImmediate(next);
    };
    next();
  } else if (path === '/big') {
    reply(req, res, 200, BIG, 'application/octet-stream');
  } else if (path === '/slow') {
    setTimeout(() => reply(req, res, 200, 'slow\n'), qint(url.searchParams, 'ms', 100, 0, 60000));
  } else if (path === '/close') {
    req.socket.destroy();
  } else {
    reply(req, res, 404, 'not found\n');
  }
}

function main() {
  if (process.argv.length !== 4) {
    console.error('usage: node node_server.js ADDR PORT');
    process.exit(2);
  }
  const [addr, port] = [process.argv[2], parseInt(process.argv[3], 10)];
  const server = http.createServer((req, res) => {
    let got = 0;
    req.on('data', (c) => { got += c.length; });
    req.on('end', () => handle(req, res, got));
  });
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 65000;
  server.listen({ host: addr, port, backlog: 128 }, () => {
    console.log(`node_server listening on ${addr} port ${port}`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

main();
