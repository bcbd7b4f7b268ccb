'use strict';
// Middle tier of a call chain on Node's event loop: an HTTP/1.1 server (one
// thread serves every connection) that calls a downstream service for each
// request over a keep-alive http.Agent, so that client requests of many server
// requests share a few reused connections.
//
// Usage: node node_mid.js ADDR PORT LEAF_ADDR LEAF_PORT [MAX_SOCKETS]
//   (ADDR, LEAF_ADDR: IPv4 or IPv6 literals; MAX_SOCKETS default 4)
//
// Routes (any method; a request body is read and ignored):
//   /chain[/...]   GET http://LEAF/<the same path and query> with http.request
//                  on an http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS })
//                  (requests beyond MAX_SOCKETS wait in the agent's queue for a
//                  free socket), then 200 with the leaf's body. The leaf sees
//                  the path this request came in with, so a test can tell
//                  which server request each client request was made for.
//                  Nothing of the incoming request (no header) is passed on:
//                  any trace context on the outgoing request is tracewire's.
//                  A leaf failure or non-200 is a 502; the call is never
//                  retried (one request in, exactly one request out).
//   anything else  404
const http = require('http');

function main() {
  const argv = process.argv.slice(2);
  if (argv.length !== 4 && argv.length !== 5) {
    console.error('usage: node node_mid.js ADDR PORT LEAF_ADDR LEAF_PORT [MAX_SOCKETS]');
    process.exit(2);
  }
  const [addr, port, leafAddr, leafPort] = [argv[0], parseInt(argv[1], 10), argv[2], parseInt(argv[3], 10)];
  const maxSockets = argv.length === 5 ? parseInt(argv[4], 10) : 4;
  if (!(maxSockets >= 1)) {
    console.error(`node_mid: bad MAX_SOCKETS '${argv[4]}'`);
    process.exit(2);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });

  function reply(res, code, body) {
    res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  function callLeaf(path, done) {
    let finished = false;
    const once = (err, status, body) => {
      if (finished) return;
      finished = true;
      done(err, status, body);
    };
    const req = http.request({ host: leafAddr, port: leafPort, method: 'GET', path, agent }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => once(null, r.statusCode, Buffer.concat(chunks)));
      r.on('error', (e) => once(e));
    });
    req.setTimeout(20000, () => req.destroy(new Error('leaf call timed out')));
    req.on('error', (e) => once(e));
    req.end();
  }

  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    req.resume(); // any body: read and dropped
    if (path !== '/chain' && !path.startsWith('/chain/')) {
      reply(res, 404, 'not found\n');
      return;
    }
    callLeaf(req.url, (err, status, body) => {
      if (err) reply(res, 502, `leaf call failed: ${err.message}\n`);
      else if (status !== 200) reply(res, 502, `leaf answered ${status}\n`);
      else {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
        res.end(body);
      }
    });
  });
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 65000;
  server.listen({ host: addr, port, backlog: 128 }, () => {
    console.log(`node_mid listening on ${addr} port ${port}, leaf ${leafAddr}:${leafPort}, ` +
      `keep-alive agent with maxSockets ${maxSockets}`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

main();
