// HTTP/2 peers with trailers for the gateway's inferenceRouting tests (used by
// tests/integration/34-gateway-inference.sh), written with node's own http2 module:
//
//   node trailers-peer.mjs upstream PORT
//       an h2c server: reads the request body, answers 200 text/event-stream with two SSE events
//       and the trailers `x-up-trailer: 1`, `x-up-body-bytes: <request body length>`; prints
//       "trailers-peer listening on PORT".
//   node trailers-peer.mjs client URL [name:value ...]
//       POSTs a small JSON body over h2c (prior knowledge) with the given request headers and the
//       request trailers `x-client-trailer: abc`; prints one JSON line {status, headers, body,
//       trailers} and exits (10 s limit).
import http2 from 'node:http2';

const [mode, arg, ...rest] = process.argv.slice(2);

if (mode === 'upstream') {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    let n = 0;
    stream.on('data', (c) => { n += c.length; });
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'text/event-stream' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-up-trailer': '1', 'x-up-body-bytes': String(n) }));
      stream.write('data: {"n":1}\n\n');
      stream.end('data: {"n":2}\n\n');
    });
    stream.on('error', () => {});
  });
  server.listen(Number(arg), '127.0.0.1', () => console.log(`trailers-peer listening on ${server.address().port}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else if (mode === 'client') {
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ error: 'timeout' }));
    process.exit(2);
  }, 10000);
  const session = http2.connect(arg);
  session.on('error', (e) => {
    console.log(JSON.stringify({ error: e.message }));
    process.exit(2);
  });
  const hdrs = { ':method': 'POST', ':path': '/v1/completions', 'content-type': 'application/json' };
  for (const h of rest) {
    const i = h.indexOf(':');
    hdrs[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const req = session.request(hdrs, { waitForTrailers: true });
  const out = { status: 0, headers: {}, body: '', trailers: {} };
  req.on('wantTrailers', () => req.sendTrailers({ 'x-client-trailer': 'abc' }));
  req.on('response', (h) => {
    out.status = h[':status'];
    for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out.headers[k] = v;
  });
  req.on('trailers', (t) => { Object.assign(out.trailers, t); });
  req.setEncoding('utf8');
  req.on('data', (c) => { out.body += c; });
  req.on('end', () => {
    clearTimeout(timer);
    console.log(JSON.stringify(out));
    session.close();
  });
  req.on('error', (e) => {
    console.log(JSON.stringify({ error: e.message, ...out }));
    process.exit(2);
  });
  req.end('{"model":"m","prompt":"hi","max_tokens":2}');
} else {
  console.error('usage: trailers-peer.mjs upstream PORT | client URL [name:value ...]');
  process.exit(64);
}
