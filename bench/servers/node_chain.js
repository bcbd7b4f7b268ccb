'use strict';
// The node tier of bench/chain.sh's two-hop chain (Node's standard library
// only): an HTTP/1.1 server that, for each request, makes one GET to the next
// service through a keep-alive http.Agent and answers 200 with its body; or,
// without an upstream, a trivial leaf that answers every request 200 "ok".
//
// Usage: node node_chain.js ADDR PORT [UP_ADDR UP_PORT [MAX_SOCKETS]]
//   MAX_SOCKETS: the agent's connections to the upstream (default 16);
//   requests beyond it wait in the agent's queue for a free connection.
// Nothing of the incoming request is passed on (any trace context on the
// outgoing request is tracewire's or an agent's); an upstream failure or
// non-200 is a 502. SIGTERM exits at once.
const http = require('http');

const argv = process.argv.slice(2);
if (![2, 4, 5].includes(argv.length)) {
  console.error('usage: node node_chain.js ADDR PORT [UP_ADDR UP_PORT [MAX_SOCKETS]]');
  process.exit(2);
}
const addr = argv[0];
const port = parseInt(argv[1], 10);
const upAddr = argv[2];
const upPort = argv.length >= 4 ? parseInt(argv[3], 10) : 0;
const maxSockets = argv.length === 5 ? parseInt(argv[4], 10) : 16;
const LEAF_BODY = 'ok\n';

function reply(res, code, body) {
  res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

let handler;
if (!upAddr) {
  handler = (req, res) => {
    req.resume();
    reply(res, 200, LEAF_BODY);
  };
} else {
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  handler = (req, res) => {
    req.resume();
    let done = false;
    const finish = (code, body) => {
      if (!done) {
        done = true;
        reply(res, code, body);
      }
    };
    const up = http.request({ host: upAddr, port: upPort, method: 'GET', path: '/', agent }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        if (r.statusCode === 200) finish(200, Buffer.concat(chunks));
        else finish(502, `upstream answered ${r.statusCode}\n`);
      });
      r.on('error', (e) => finish(502, `upstream call failed: ${e.message}\n`));
    });
    up.setTimeout(20000, () => up.destroy(new Error('upstream call timed out')));
    up.on('error', (e) => finish(502, `upstream call failed: ${e.message}\n`));
    up.end();
  };
}

const server = http.createServer(handler);
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.listen({ host: addr, port, backlog: 511 }, () => {
  console.log(`node_chain listening on ${addr} port ${port}, ` +
    (upAddr ? `upstream ${upAddr}:${upPort} (keep-alive agent, maxSockets ${maxSockets})` : 'leaf'));
});
process.on('SIGTERM', () => process.exit(0));
