// `infergate epp` behind a gateway that keeps it out of the response's data path (infergate's
// inferenceRouting responseMode), driven by a @grpc/grpc-js ext_proc client loading infergate's
// proto/ files, with one `infergate sim` replica as the endpoint:
//   - observe: protocol_config announces response body mode STREAMED and every response message
//     carries observability_mode; the EPP must answer none of them, yet count the request
//     complete (duration, response size, output tokens from the SSE usage) and end the call OK;
//   - headers: response body mode NONE; the EPP answers the response head, gets no body, and the
//     client's half-close completes the request.
// The running-requests gauge returns to 0 after each call (the per-request state is released).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const ROOT = process.env.IG_ROOT ?? path.resolve(import.meta.dirname, '../..');
const BIN = process.env.IG_BIN ?? path.join(ROOT, 'build', 'infergate');
const LOAD_OPTS = { keepCase: true, enums: String, defaults: false, oneofs: true,
  includeDirs: [path.join(ROOT, 'proto'), '/usr/include'] };
const def = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', LOAD_OPTS);
const ExternalProcessor = grpc.loadPackageDefinition(def).envoy.service.ext_proc.v3.ExternalProcessor;
const CHAN_OPTS = { 'grpc.use_local_subchannel_pool': 1 };
const children = [];
let sim;
let epp;

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function startProc(args, re) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${out}`)), 5000);
    const onData = (d) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
  });
}

function request(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, timeout: 10000 }, resolve);
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function metricsPage() {
  const r = await request(`http://127.0.0.1:${epp.metrics}/metrics`);
  let text = '';
  for await (const c of r) text += c;
  return text;
}

// The value of the first sample of |page| whose line starts with |prefix|, or 0.
function sample(page, prefix) {
  const line = page.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

before(async () => {
  const s = await startProc(['sim', '--model', 'm1', '--port', '0', '--zero-latency', '--id', 'a'],
    /listening on 127\.0\.0\.1:(\d+)/);
  sim = `127.0.0.1:${s.match[1]}`;
  const e = await startProc(['epp', '--endpoints', sim, '--secure-serving=false', '--grpc-port', '0',
    '--grpc-health-port', '0', '--metrics-port', '0', '--refresh-metrics-interval', '50ms', '-v', '1'],
  /listening grpc=(\d+) health=(\d+) metrics=(\d+)/);
  epp = { ...e, grpc: Number(e.match[1]), metrics: Number(e.match[3]) };
  const deadline = Date.now() + 5000;
  while (!/inference_pool_ready_pods\{name="[^"]*"\} 1/.test(await metricsPage())) {
    if (Date.now() > deadline) throw new Error('the EPP never saw the replica as ready');
    await new Promise((r) => setTimeout(r, 50));
  }
});

const hdr = (key, value) => ({ key, raw_value: Buffer.from(value) });

function openStream(client) {
  const call = client.Process({ deadline: Date.now() + 20000 });
  const queue = [];
  const waiters = [];
  const statusP = new Promise((resolve) => call.on('status', resolve));
  call.on('data', (m) => { if (waiters.length) waiters.shift()(m); else queue.push(m); });
  call.on('error', () => {});
  return {
    call,
    status: () => statusP,
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply')), 10000);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    })),
    pending: () => queue.length,
  };
}

// Sends the request side (headers with |responseBodyMode|, one body chunk), checks the pick and the
// body that comes back, and returns the upstream response stream from the picked replica.
async function pickAndForward(s, id, responseBodyMode) {
  const body = Buffer.from(JSON.stringify({ model: 'm1', stream: true, max_tokens: 5,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello there' }] }));
  const pc = { request_body_mode: 'FULL_DUPLEX_STREAMED' };
  if (responseBodyMode !== 'NONE') pc.response_body_mode = responseBodyMode;
  s.call.write({ request_headers: { headers: { headers: [hdr(':method', 'POST'), hdr(':scheme', 'http'),
    hdr(':authority', 'gw'), hdr(':path', '/v1/chat/completions'), hdr('content-type', 'application/json'),
    hdr('x-request-id', id)] }, end_of_stream: false }, protocol_config: pc });
  s.call.write({ request_body: { body, end_of_stream: true } });
  const pick = await s.next();
  assert.equal(pick.response, 'request_headers');
  const back = await s.next();
  assert.equal(back.response, 'request_body');
  assert.ok(back.request_body.response.body_mutation.streamed_response.body.equals(body));
  const up = await request(`http://${sim}/v1/chat/completions`, { method: 'POST', body,
    headers: { 'content-type': 'application/json', 'content-length': String(body.length) } });
  assert.equal(up.statusCode, 200);
  return up;
}

const respHeaders = (up, observe) => ({
  response_headers: { headers: { headers: [hdr(':status', '200'), hdr('content-type', up.headers['content-type'])] },
    end_of_stream: false },
  metadata_context: { filter_metadata: { 'envoy.lb': { fields: {
    'x-gateway-destination-endpoint-served': { string_value: sim } } } } },
  observability_mode: observe,
});

const DUR = 'inference_objective_request_duration_seconds_count{model_name="m1",target_model_name="m1"}';
const OUT = 'inference_objective_output_tokens_count{model_name="m1",target_model_name="m1"}';
const RESP = 'inference_objective_response_sizes_count{model_name="m1",target_model_name="m1"}';
const RUN = 'inference_objective_running_requests{model_name="m1"}';

test('observe: observed response messages get no answer and still complete the request', async () => {
  const before0 = await metricsPage();
  const client = new ExternalProcessor(`127.0.0.1:${epp.grpc}`, grpc.credentials.createInsecure(), CHAN_OPTS);
  const s = openStream(client);
  const up = await pickAndForward(s, 'obs-1', 'STREAMED');
  s.call.write(respHeaders(up, true));
  let n = 0;
  for await (const chunk of up) {
    s.call.write({ response_body: { body: Buffer.from(chunk), end_of_stream: false }, observability_mode: true });
    n++;
  }
  s.call.write({ response_body: { body: Buffer.alloc(0), end_of_stream: true }, observability_mode: true });
  s.call.end();
  const st = await s.status();
  assert.equal(st.code, grpc.status.OK);
  assert.ok(n > 0);
  assert.equal(s.pending(), 0, 'no answer to an observed message');
  client.close();
  const page = await metricsPage();
  assert.equal(sample(page, DUR), sample(before0, DUR) + 1, 'the request counted complete');
  assert.equal(sample(page, OUT), sample(before0, OUT) + 1, 'usage read from the observed SSE');
  assert.equal(sample(page, RESP), sample(before0, RESP) + 1);
  assert.equal(sample(page, RUN), 0, 'per-request state released');
});

test('headers: response body mode NONE, the half-close completes the request', async () => {
  const before0 = await metricsPage();
  const client = new ExternalProcessor(`127.0.0.1:${epp.grpc}`, grpc.credentials.createInsecure(), CHAN_OPTS);
  const s = openStream(client);
  const up = await pickAndForward(s, 'hdr-1', 'NONE');
  s.call.write(respHeaders(up, false));
  const rh = await s.next();
  assert.equal(rh.response, 'response_headers', 'the head is answered');
  for await (const chunk of up) assert.ok(chunk.length > 0); // the body goes to the client only
  // Not complete before the end of the call: the response is still streaming as far as it knows.
  assert.equal(sample(await metricsPage(), DUR), sample(before0, DUR));
  s.call.end();
  const st = await s.status();
  assert.equal(st.code, grpc.status.OK);
  assert.equal(s.pending(), 0);
  client.close();
  const page = await metricsPage();
  assert.equal(sample(page, DUR), sample(before0, DUR) + 1, 'the half-close completed the request');
  assert.equal(sample(page, RUN), 0, 'per-request state released');
});
