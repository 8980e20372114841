// Interop: `infergate epp` driven by an Envoy-like ext_proc client written with @grpc/grpc-js,
// loading infergate's own proto/ files. Two `infergate sim` replicas are the endpoints, so the
// EPP's scraper reads real vLLM metrics. The driver sends the exact message sequence Envoy sends
// in FULL_DUPLEX_STREAMED mode without waiting for answers (request_headers with protocol_config,
// the body in several chunks, the last with end_of_stream), forwards the EPP's body to the picked
// replica, then streams the replica's SSE response through the EPP (response_headers, one
// response_body per chunk, response_trailers). Every reply is checked: order, chunk sizes, the
// destination header and its envoy.lb metadata twin, Content-Length. Also: a header-only request,
// the missing-model error, the health service on --grpc-health-port, /metrics, SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { ROOT, CHAN_OPTS, killChildren, startProc, startSim, startEpp, untilReady, request,
  metricsPage as page, hdr, setHeaders, newClient as newClientOn, openStream } from './lib/ext-proc-client.mjs';

const healthDef = protoLoader.loadSync(path.join(ROOT, 'proto/grpc/health/v1/health.proto'),
  { keepCase: true, enums: String, defaults: true });
const Health = grpc.loadPackageDefinition(healthDef).grpc.health.v1.Health;

let sims = [];
let epp;

after(killChildren);

const metricsPage = () => page(epp.metrics);

before(async () => {
  for (const name of ['a', 'b']) {
    sims.push(await startSim(['--zero-latency', '--max-model-len', '200000', '--id', name]));
  }
  epp = await startEpp(sims.map((s) => s.addr));
  // Wait (bounded) until the scraper has fresh metrics for both replicas.
  await untilReady(epp, 2);
});

// ---- an Envoy-like client -------------------------------------------------------------------

function requestHeaders(pathValue, eos, extra = []) {
  return {
    request_headers: {
      headers: { headers: [hdr(':method', eos ? 'GET' : 'POST'), hdr(':scheme', 'http'), hdr(':authority', 'gw.test'),
        hdr(':path', pathValue), hdr('content-type', 'application/json'), hdr('x-request-id', 'drv-1'), ...extra] },
      end_of_stream: eos,
    },
    protocol_config: { request_body_mode: 'FULL_DUPLEX_STREAMED', response_body_mode: 'FULL_DUPLEX_STREAMED' },
  };
}

function metadataDest(reply) {
  const ns = reply.dynamic_metadata?.fields?.['envoy.lb'];
  // protobufjs's bundled struct.proto names the Value fields in camelCase.
  const inner = ns?.struct_value ?? ns?.structValue;
  const v = inner?.fields?.['x-gateway-destination-endpoint'];
  return v?.string_value ?? v?.stringValue;
}

const newClient = () => newClientOn(epp.grpc);

// ---- tests ----------------------------------------------------------------------------------

test('full-duplex exchange: pick, body chunks, SSE response through the EPP', async () => {
  const client = newClient();
  const s = openStream(client);
  const filler = 'x'.repeat(140000);
  const body = Buffer.from(JSON.stringify({ model: 'm1', stream: true, max_tokens: 5,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: `hi ${filler}` }] }));
  // Envoy sends everything as it arrives, without waiting for the EPP's answers.
  s.call.write(requestHeaders('/v1/chat/completions', false));
  const cuts = [0, 1000, 70000, body.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    s.call.write({ request_body: { body: body.subarray(cuts[i], cuts[i + 1]), end_of_stream: i + 2 === cuts.length } });
  }

  // 1. the pick
  const pick = await s.next();
  assert.equal(pick.response, 'request_headers');
  const common = pick.request_headers.response;
  const h = setHeaders(common);
  const dest = h['x-gateway-destination-endpoint'];
  assert.ok(sims.some((x) => x.addr === dest), `destination ${dest}`);
  assert.equal(metadataDest(pick), dest, 'header and envoy.lb metadata agree');
  assert.equal(h['content-length'], String(body.length));
  assert.equal(common.clear_route_cache, true);

  // 2. the body back, in chunks of at most 62000 bytes, end_of_stream on the last only
  const chunks = [];
  for (;;) {
    const m = await s.next();
    assert.equal(m.response, 'request_body');
    const sr = m.request_body.response.body_mutation.streamed_response;
    assert.ok(sr.body.length <= 62000);
    chunks.push(sr.body);
    if (sr.end_of_stream) break;
    assert.equal(sr.body.length, 62000, 'only the last chunk is short');
  }
  assert.equal(chunks.length, Math.ceil(body.length / 62000));
  const upstreamBody = Buffer.concat(chunks);
  assert.ok(upstreamBody.equals(body));

  // 3. what the gateway does: forward the EPP's body to the picked replica
  const up = await request(`http://${dest}/v1/chat/completions`, { method: 'POST', body: upstreamBody,
    headers: { 'content-type': 'application/json', 'content-length': String(upstreamBody.length) } });
  assert.equal(up.statusCode, 200);
  s.call.write({ response_headers: { headers: { headers: [hdr(':status', '200'),
    hdr('content-type', up.headers['content-type'])] }, end_of_stream: false },
  metadata_context: { filter_metadata: { 'envoy.lb': { fields: {
    'x-gateway-destination-endpoint-served': { string_value: dest } } } } } });
  const rh = await s.next();
  assert.equal(rh.response, 'response_headers');
  assert.equal(setHeaders(rh.response_headers.response)['x-went-into-resp-headers'], 'true');

  // 4. SSE chunks one by one, each echoed before the next is sent (one round trip per chunk)
  const sent = [];
  for await (const chunk of up) {
    const b = Buffer.from(chunk);
    sent.push(b);
    s.call.write({ response_body: { body: b, end_of_stream: false } });
    const m = await s.next();
    assert.equal(m.response, 'response_body');
    const sr = m.response_body.response.body_mutation.streamed_response;
    assert.ok(sr.body.equals(b));
    assert.ok(!sr.end_of_stream);
  }
  assert.ok(Buffer.concat(sent).toString().includes('data: [DONE]'));
  s.call.write({ response_trailers: { trailers: { headers: [] } } });
  const tr = await s.next();
  assert.equal(tr.response, 'response_trailers');
  s.call.end();
  const st = await s.status();
  assert.equal(st.code, grpc.status.OK);
  assert.equal(s.pending(), 0, 'no extra replies');
  client.close();

  const page = await metricsPage();
  assert.match(page, /inference_objective_request_total\{model_name="m1",target_model_name="m1",priority="0"\} 1/);
  assert.match(page, /inference_objective_input_tokens_count\{model_name="m1",target_model_name="m1"\} 1/);
  assert.match(page, /inference_extension_scheduler_e2e_duration_seconds_count 1/);
  assert.match(page, /inference_pool_per_pod_queue_size\{model_server_pod="127\.0\.0\.1:\d+",name="[^"]+"\} 0/);
});

test('header-only request is answered at once; missing model is a 400', async () => {
  const client = newClient();
  const s = openStream(client);
  s.call.write(requestHeaders('/v1/models', true));
  const pick = await s.next();
  assert.equal(pick.response, 'request_headers');
  const dest = setHeaders(pick.request_headers.response)['x-gateway-destination-endpoint'];
  assert.ok(sims.some((x) => x.addr === dest));
  assert.equal(metadataDest(pick), dest);
  s.call.end();
  assert.equal((await s.status()).code, grpc.status.OK);

  const e = openStream(client);
  e.call.write(requestHeaders('/v1/completions', false));
  e.call.write({ request_body: { body: Buffer.from('{"prompt":"no model"}'), end_of_stream: true } });
  const ir = await e.next();
  assert.equal(ir.response, 'immediate_response');
  assert.equal(ir.immediate_response.status.code, 'BadRequest');
  assert.equal(ir.immediate_response.body.toString(), 'inference error: BadRequest - model not found in request body');
  e.call.end();
  assert.equal((await e.status()).code, grpc.status.OK);
  client.close();
});

test('grpc.health.v1 on the health port, with the reference service names', async () => {
  const client = new Health(`127.0.0.1:${epp.health}`, grpc.credentials.createInsecure(), CHAN_OPTS);
  const check = (service) => new Promise((resolve) => client.Check({ service }, { deadline: Date.now() + 5000 },
    (err, resp) => resolve({ err, resp })));
  for (const name of ['', 'liveness', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor']) {
    const { err, resp } = await check(name);
    assert.equal(err, null, `${name}: ${err?.message}`);
    assert.equal(resp.status, 'SERVING', name);
  }
  const { err } = await check('no-such-service');
  assert.equal(err?.code, grpc.status.NOT_FOUND);
  client.close();
});

test('default --secure-serving: TLS with a self-signed certificate, gateways skip verification', async () => {
  const tls = await startProc(['epp', '--endpoints', sims[0].addr, '--grpc-port', '0', '--grpc-health-port', '0',
    '--metrics-port', '0', '-v', '1'], /listening grpc=(\d+) health=(\d+) metrics=(\d+) tls=on/);
  tls.child.removeAllListeners('exit');
  try {
    const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });
    const client = newClientOn(tls.match[1], creds);
    const s = openStream(client);
    s.call.write(requestHeaders('/v1/models', true));
    const pick = await s.next();
    assert.equal(setHeaders(pick.request_headers.response)['x-gateway-destination-endpoint'], sims[0].addr);
    s.call.end();
    assert.equal((await s.status()).code, grpc.status.OK);
    client.close();
    // A verifying client refuses the self-signed certificate.
    const strict = newClientOn(tls.match[1], grpc.credentials.createSsl());
    const v = openStream(strict);
    v.call.write(requestHeaders('/v1/models', true));
    assert.equal((await v.status()).code, grpc.status.UNAVAILABLE);
    strict.close();
  } finally {
    const exited = new Promise((resolve) => tls.child.on('exit', (code) => resolve(code)));
    tls.child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});

test('SIGTERM drains: an open stream finishes, then the process exits 0', async () => {
  const client = newClient();
  const s = openStream(client);
  s.call.write(requestHeaders('/v1/models', true));
  assert.equal((await s.next()).response, 'request_headers');
  epp.child.removeAllListeners('exit');
  let gone = false;
  const exited = new Promise((resolve) => epp.child.on('exit', (code, sig) => { gone = true; resolve({ code, sig }); }));
  epp.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(gone, false, 'the EPP waits for the open stream');
  // The request in flight still gets its response path answered.
  s.call.write({ response_headers: { headers: { headers: [hdr(':status', '200')] }, end_of_stream: true } });
  assert.equal((await s.next()).response, 'response_headers');
  s.call.end();
  assert.equal((await s.status()).code, grpc.status.OK);
  client.close();
  let timer;
  const r = await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), 5000); })]);
  clearTimeout(timer);
  assert.deepEqual(r, { code: 0, sig: null }, epp.output().slice(-2000));
  for (const s of sims) s.child.kill('SIGTERM');
});
