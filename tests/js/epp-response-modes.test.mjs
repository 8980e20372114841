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
import grpc from '@grpc/grpc-js';
import { killChildren, startSim, startEpp, untilReady, request, metricsPage as page, sample, hdr, newClient,
  openStream } from './lib/ext-proc-client.mjs';

let sim;
let epp;

after(killChildren);

const metricsPage = () => page(epp.metrics);

before(async () => {
  sim = (await startSim(['--zero-latency', '--id', 'a'])).addr;
  epp = await startEpp([sim]);
  await untilReady(epp, 1);
});

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
  const client = newClient(epp.grpc);
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
  const client = newClient(epp.grpc);
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
